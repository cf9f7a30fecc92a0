// cuda_flash: FlashAttention-2 style attention on tensor cores (mma.sync
// m16n8k16, sm_80 and sm_90a), forward and backward, bf16/fp16 storage with
// fp32 accumulation and fp32 natural-log LSE, head dims 64 and 128, GQA, THD
// views with strides, any mask through its block map (FULL tiles unmasked,
// PARTIAL tiles tested per element, EMPTY tiles never loaded). Wins whenever the
// data is on a CUDA GPU; requires 16-byte aligned rows (strides multiple of 8).
#include "kernels/cuda/cuda_flash.h"

#include <algorithm>
#include <cstring>

#include "masks/block_map.h"

namespace cpb {
namespace {

constexpr int64_t kMaxSeq = int64_t{1} << 30;  // device indices are int32

uint64_t hash_slices(const Mask& mask) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the slice fields
  auto mix = [&h](int64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= static_cast<uint64_t>(v >> (8 * i)) & 0xffu;
      h *= 1099511628211ull;
    }
  };
  mix(mask.seq_q);
  mix(mask.seq_k);
  for (const auto& s : mask.slices) {
    for (int64_t v : {s.q_begin, s.q_end, s.k_begin, s.k_end, s.diag_lo, s.diag_hi}) mix(v);
  }
  return h;
}

int clamp_int(int64_t v) { return static_cast<int>(std::clamp(v, -kMaxSeq, kMaxSeq)); }

bool is_half(DType t) { return t == DType::kBF16 || t == DType::kF16; }

cuda::DevTensor dev(const TensorView& t) {
  return {.data = t.data, .token_stride = t.token_stride, .head_stride = t.head_stride};
}

// The kernel reads and writes 16-bit rows with 16-byte vectors, fp32 rows in pairs.
void require_layout(const TensorView& t, const char* name, DType want, int64_t tokens,
                    int64_t heads, int64_t head_dim) {
  CPB_REQUIRE(t.device == Device::kCuda, "cuda_flash: {} must be a CUDA tensor", name);
  CPB_REQUIRE(t.dtype == want, "cuda_flash: {} is {}, expected {}", name, to_string(t.dtype),
              to_string(want));
  CPB_REQUIRE(t.tokens == tokens && t.heads == heads && t.head_dim == head_dim,
              "cuda_flash: {} is [{}, {}, {}], expected [{}, {}, {}]", name, t.tokens, t.heads,
              t.head_dim, tokens, heads, head_dim);
  const int64_t align_elems = want == DType::kF32 ? 2 : 8;
  const auto addr = reinterpret_cast<uintptr_t>(t.data);
  CPB_REQUIRE(t.token_stride % align_elems == 0 && t.head_stride % align_elems == 0 &&
                  addr % (align_elems * dtype_size(want)) == 0,
              "cuda_flash: {} strides ({}, {}) and base must be multiples of {} elements", name,
              t.token_stride, t.head_stride, align_elems);
}

void require_lse(const LseView& l, int64_t tokens, int64_t heads) {
  CPB_REQUIRE(l.device == Device::kCuda, "cuda_flash: lse must be a CUDA buffer");
  CPB_REQUIRE(l.tokens == tokens && l.heads == heads && l.token_stride >= heads,
              "cuda_flash: lse is [{}, {}] (stride {}), expected [{}, {}]", l.tokens, l.heads,
              l.token_stride, tokens, heads);
}

}  // namespace

Support CudaFlashKernel::supports(const AttentionShape& s) const {
  if (s.device != Device::kCuda) return Support::no("cuda_flash takes CUDA device tensors only");
  if (!is_half(s.dtype))
    return Support::no(fmt::format("cuda_flash stores bf16/fp16 only, not {}", to_string(s.dtype)));
  if (!cuda::flash_head_dim_supported(static_cast<int>(s.head_dim)))
    return Support::no(fmt::format("cuda_flash supports head_dim 64 and 128, not {}", s.head_dim));
  if (s.heads_kv <= 0 || s.heads_q % s.heads_kv != 0)
    return Support::no(
        fmt::format("heads_q {} must be a multiple of heads_kv {}", s.heads_q, s.heads_kv));
  if (s.seq_q >= kMaxSeq || s.seq_k >= kMaxSeq)
    return Support::no("cuda_flash indexes tokens with 32-bit integers (< 2^30)");
  if (cuda_device_count() == 0) return Support::no("no CUDA device visible");
  return Support::yes();
}

const cuda::DeviceBlockMap& CudaFlashKernel::device_map(const Mask& mask, int block_q, int block_k,
                                                        cudaStream_t stream) {
  const uint64_t h = hash_slices(mask);
  for (auto it = maps_.begin(); it != maps_.end(); ++it) {
    if (it->hash == h && it->block_q == block_q && it->block_k == block_k &&
        it->seq_q == mask.seq_q && it->seq_k == mask.seq_k && it->slices == mask.slices) {
      maps_.splice(maps_.begin(), maps_, it);
      return maps_.front().view;
    }
  }
  const BlockMap bm = build_block_map(mask, block_q, block_k);
  // One allocation: int4 arrays first (16-byte aligned), then the int arrays.
  std::vector<int32_t> host;
  auto put4 = [&host](int a, int b, int c, int d) { host.insert(host.end(), {a, b, c, d}); };
  const std::size_t rows_at = host.size();
  for (const auto& r : bm.rows)
    put4(r.index, static_cast<int>(r.state), r.slice_begin, r.slice_count);
  const std::size_t cols_at = host.size();
  for (const auto& c : bm.cols)
    put4(c.index, static_cast<int>(c.state), c.slice_begin, c.slice_count);
  const std::size_t slices_at = host.size();
  for (const auto& s : mask.slices) {
    put4(clamp_int(s.q_begin), clamp_int(s.q_end), clamp_int(s.k_begin), clamp_int(s.k_end));
    put4(clamp_int(s.diag_lo), clamp_int(s.diag_hi), 0, 0);
  }
  const std::size_t row_ptr_at = host.size();
  for (int64_t v : bm.row_ptr) host.push_back(static_cast<int32_t>(v));
  const std::size_t col_ptr_at = host.size();
  for (int64_t v : bm.col_ptr) host.push_back(static_cast<int32_t>(v));
  const std::size_t tile_slices_at = host.size();
  host.insert(host.end(), bm.tile_slices.begin(), bm.tile_slices.end());
  host.push_back(0);  // never an empty allocation

  UploadedMap m{.seq_q = mask.seq_q,
                .seq_k = mask.seq_k,
                .block_q = block_q,
                .block_k = block_k,
                .hash = h,
                .slices = mask.slices,
                .buffer = DeviceBuffer(alloc_, host.size() * sizeof(int32_t))};
  // On the caller's stream, so the kernel that reads the map is ordered after it
  // (a legacy-stream copy would not order a non-blocking stream); pageable source:
  // the call returns once `host` has been staged, so it may go out of scope.
  CPB_CUDA_CHECK(cudaMemcpyAsync(m.buffer.data(), host.data(), host.size() * sizeof(int32_t),
                                 cudaMemcpyHostToDevice, stream));
  const auto* base = m.buffer.as<int32_t>();
  m.view = {.num_q_tiles = static_cast<int>(bm.num_q_tiles),
            .num_k_tiles = static_cast<int>(bm.num_k_tiles),
            .row_ptr = base + row_ptr_at,
            .rows = reinterpret_cast<const int4*>(base + rows_at),
            .col_ptr = base + col_ptr_at,
            .cols = reinterpret_cast<const int4*>(base + cols_at),
            .tile_slices = base + tile_slices_at,
            .slices = reinterpret_cast<const int4*>(base + slices_at)};
  ++map_uploads_;
  maps_.push_front(std::move(m));
  if (maps_.size() > kMapCacheSize) maps_.pop_back();
  return maps_.front().view;
}

// Forward and backward share these: the shape is supported, and q, k, v, out
// have the layout and dtype the launch assumes.
void CudaFlashKernel::check_qkv_out(const TensorView& q, const TensorView& k, const TensorView& v,
                                    const TensorView& out) const {
  const int64_t sq = q.tokens, sk = k.tokens, hq = q.heads, hkv = k.heads, d = q.head_dim;
  const Support sup = supports({.seq_q = sq,
                                .seq_k = sk,
                                .heads_q = hq,
                                .heads_kv = hkv,
                                .head_dim = d,
                                .dtype = q.dtype,
                                .device = q.device});
  CPB_REQUIRE(sup.ok(), "{}", sup.reason);
  require_layout(q, "q", q.dtype, sq, hq, d);
  require_layout(k, "k", q.dtype, sk, hkv, d);
  require_layout(v, "v", q.dtype, sk, hkv, d);
  require_layout(out, "out", q.dtype, sq, hq, d);
}

void CudaFlashKernel::forward(const ForwardArgs& a, const KernelContext& ctx) {
  CPB_REQUIRE(a.mask != nullptr, "cuda_flash: forward needs a mask");
  const int64_t sq = a.q.tokens, sk = a.k.tokens, hq = a.q.heads, hkv = a.k.heads, d = a.q.head_dim;
  check_qkv_out(a.q, a.k, a.v, a.out);
  require_lse(a.lse, sq, hq);
  const auto stream = static_cast<cudaStream_t>(ctx.stream);
  CPB_REQUIRE(a.mask->seq_q == sq && a.mask->seq_k == sk,
              "cuda_flash: mask is {}x{}, tensors are {}x{}", a.mask->seq_q, a.mask->seq_k, sq, sk);
  if (sq == 0) return;
  cuda::FlashFwdParams p{.q = dev(a.q),
                         .k = dev(a.k),
                         .v = dev(a.v),
                         .out = dev(a.out),
                         .lse = a.lse.data,
                         .lse_token_stride = a.lse.token_stride,
                         .seq_q = static_cast<int>(sq),
                         .seq_k = static_cast<int>(sk),
                         .heads_q = static_cast<int>(hq),
                         .heads_kv = static_cast<int>(hkv),
                         .head_dim = static_cast<int>(d),
                         .bf16 = a.q.dtype == DType::kBF16,
                         .scale = a.scale,
                         .map = device_map(*a.mask, cuda::kFwdBlockQ, cuda::kFwdBlockK, stream)};
  cuda::flash_forward(p, stream);
}

void CudaFlashKernel::backward(const BackwardArgs& a, const KernelContext& ctx) {
  CPB_REQUIRE(a.mask != nullptr, "cuda_flash: backward needs a mask");
  const int64_t sq = a.q.tokens, sk = a.k.tokens, hq = a.q.heads, hkv = a.k.heads, d = a.q.head_dim;
  check_qkv_out(a.q, a.k, a.v, a.out);
  require_layout(a.dout, "dout", a.q.dtype, sq, hq, d);
  require_layout(a.dq, "dq", DType::kF32, sq, hq, d);
  require_layout(a.dk, "dk", DType::kF32, sk, hkv, d);
  require_layout(a.dv, "dv", DType::kF32, sk, hkv, d);
  require_lse(a.lse, sq, hq);
  const auto stream = static_cast<cudaStream_t>(ctx.stream);
  CPB_REQUIRE(a.mask->seq_q == sq && a.mask->seq_k == sk,
              "cuda_flash: mask is {}x{}, tensors are {}x{}", a.mask->seq_q, a.mask->seq_k, sq, sk);
  const std::size_t delta_bytes = static_cast<std::size_t>(std::max<int64_t>(sq * hq, 1)) * 4;
  if (delta_.bytes() < delta_bytes) {
    // The old scratch may still be in use by work queued on this or another stream.
    CPB_CUDA_CHECK(cudaDeviceSynchronize());
    delta_ = DeviceBuffer(alloc_, delta_bytes);
  }
  cuda::FlashBwdParams p{.q = dev(a.q),
                         .k = dev(a.k),
                         .v = dev(a.v),
                         .out = dev(a.out),
                         .dout = dev(a.dout),
                         .lse = a.lse.data,
                         .lse_token_stride = a.lse.token_stride,
                         .dq = dev(a.dq),
                         .dk = dev(a.dk),
                         .dv = dev(a.dv),
                         .delta = delta_.as<float>(),
                         .seq_q = static_cast<int>(sq),
                         .seq_k = static_cast<int>(sk),
                         .heads_q = static_cast<int>(hq),
                         .heads_kv = static_cast<int>(hkv),
                         .head_dim = static_cast<int>(d),
                         .bf16 = a.q.dtype == DType::kBF16,
                         .scale = a.scale,
                         .accumulate = a.accumulate,
                         .map = device_map(*a.mask, cuda::kBwdBlockQ, cuda::kBwdBlockK, stream)};
  cuda::flash_backward(p, stream);
}

KernelMemory CudaFlashKernel::memory() const {
  const DeviceMemoryStats s = alloc_.stats();
  return {.device_peak_bytes = s.peak_bytes, .driver_peak_used_bytes = s.driver_peak_used_bytes};
}

CPB_REGISTER_KERNEL(cuda_flash, CudaFlashKernel);

}  // namespace cpb
