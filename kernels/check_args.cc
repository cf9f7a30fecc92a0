#include "kernels/check_args.h"

#include "common/errors.h"

namespace cpb {

void check_attention_args(const char* kernel, Device device, const TensorView& q,
                          const TensorView& k, const TensorView& v, const Mask* mask) {
  CPB_CHECK(mask != nullptr, "{}: no mask", kernel);
  CPB_CHECK(q.device == device && k.device == device && v.device == device, "{} takes {} tensors",
            kernel, to_string(device));
  CPB_CHECK(mask->seq_q == q.tokens && mask->seq_k == k.tokens && v.tokens == k.tokens,
            "{}: mask {}x{} does not match q {} / k {} tokens", kernel, mask->seq_q, mask->seq_k,
            q.tokens, k.tokens);
  CPB_CHECK(k.heads > 0 && q.heads % k.heads == 0 && v.heads == k.heads,
            "{}: heads_q {} must be a multiple of heads_kv {}", kernel, q.heads, k.heads);
  CPB_CHECK(q.head_dim == k.head_dim && k.head_dim == v.head_dim, "{}: head_dim mismatch", kernel);
}

}  // namespace cpb
