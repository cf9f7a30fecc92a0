#include "parallel/execution_heads.h"

#include <cstddef>
#include <limits>

#include "common/errors.h"

namespace cpb {

TensorView head_slice(const TensorView& t, int64_t first, int64_t count) {
  CPB_CHECK(first >= 0 && count >= 0 && first + count <= t.heads, "heads [{}, {}) of {}", first,
            first + count, t.heads);
  TensorView s = t;
  s.heads = count;
  // A trace execution's views carry no data: keep them null, never a pointer off null.
  if (t.data)
    s.data = static_cast<std::byte*>(t.data) + first * t.head_stride * int64_t(dtype_size(t.dtype));
  return s;
}

LseView head_slice(const LseView& l, int64_t first, int64_t count) {
  CPB_CHECK(first >= 0 && count >= 0 && first + count <= l.heads, "LSE heads [{}, {}) of {}", first,
            first + count, l.heads);
  LseView s = l;
  s.heads = count;
  if (l.data) s.data = l.data + first;
  return s;
}

namespace {

// Query heads per KV head of a call; checks that `masks` fits it.
int64_t group_size(const TensorView& q, const TensorView& k, std::span<const Mask> masks) {
  CPB_CHECK(!masks.empty(), "kernel call without a mask");
  CPB_CHECK(masks.size() == 1 || static_cast<int64_t>(masks.size()) == k.heads,
            "{} head masks for a call on {} KV heads", masks.size(), k.heads);
  CPB_CHECK(k.heads >= 1 && q.heads % k.heads == 0, "Hq={} is not a multiple of Hkv={}", q.heads,
            k.heads);
  return q.heads / k.heads;
}

}  // namespace

void forward_heads(Execution& x, Kernel& k, const ForwardArgs& a, std::span<const Mask> masks) {
  const int64_t r = group_size(a.q, a.k, masks);
  if (masks.size() == 1) {
    ForwardArgs one = a;
    one.mask = &masks[0];
    x.forward(k, one);
    return;
  }
  for (int64_t g = 0; g < a.k.heads; ++g) {
    const Mask& m = masks[static_cast<size_t>(g)];
    const TensorView out = head_slice(a.out, g * r, r);
    const LseView lse = head_slice(a.lse, g * r, r);
    if (m.slices.empty()) {  // no visible key for this head: as a kernel would write it
      x.zero(out);
      x.fill(lse, -std::numeric_limits<float>::infinity());
      continue;
    }
    x.forward(k, {.q = head_slice(a.q, g * r, r),
                  .k = head_slice(a.k, g, 1),
                  .v = head_slice(a.v, g, 1),
                  .mask = &m,
                  .out = out,
                  .lse = lse,
                  .scale = a.scale});
  }
}

void backward_heads(Execution& x, Kernel& k, const BackwardArgs& a, std::span<const Mask> masks) {
  const int64_t r = group_size(a.q, a.k, masks);
  if (masks.size() == 1) {
    BackwardArgs one = a;
    one.mask = &masks[0];
    x.backward(k, one);
    return;
  }
  for (int64_t g = 0; g < a.k.heads; ++g) {
    const Mask& m = masks[static_cast<size_t>(g)];
    const TensorView dq = head_slice(a.dq, g * r, r), dk = head_slice(a.dk, g, 1),
                     dv = head_slice(a.dv, g, 1);
    if (m.slices.empty()) {  // zero gradients: nothing to add, or zeroes to write
      if (!a.accumulate) {
        x.zero(dq);
        x.zero(dk);
        x.zero(dv);
      }
      continue;
    }
    x.backward(k, {.q = head_slice(a.q, g * r, r),
                   .k = head_slice(a.k, g, 1),
                   .v = head_slice(a.v, g, 1),
                   .mask = &m,
                   .out = head_slice(a.out, g * r, r),
                   .dout = head_slice(a.dout, g * r, r),
                   .lse = head_slice(a.lse, g * r, r),
                   .dq = dq,
                   .dk = dk,
                   .dv = dv,
                   .scale = a.scale,
                   .accumulate = a.accumulate});
  }
}

}  // namespace cpb
