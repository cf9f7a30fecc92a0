#include "parallel/execution.h"

#include "common/errors.h"

namespace cpb {

ExecBuffer& ExecBuffer::operator=(ExecBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = o.owner_;
    data_ = o.data_;
    bytes_ = o.bytes_;
    o.owner_ = nullptr;
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void ExecBuffer::reset() {
  if (owner_) owner_->release(data_, bytes_);
  owner_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

void check_copy_rows(const TensorView& src, int64_t st0, int64_t sh0, const TensorView& dst,
                     int64_t dt0, int64_t dh0, int64_t tokens, int64_t heads, Device device) {
  CPB_CHECK(src.head_dim == dst.head_dim, "head_dim {} vs {}", src.head_dim, dst.head_dim);
  CPB_CHECK(st0 >= 0 && sh0 >= 0 && dt0 >= 0 && dh0 >= 0 && tokens >= 0 && heads >= 0 &&
                st0 + tokens <= src.tokens && dt0 + tokens <= dst.tokens &&
                sh0 + heads <= src.heads && dh0 + heads <= dst.heads,
            "copy_rows out of bounds");
  CPB_CHECK(src.device == device && dst.device == device,
            "copy_rows on {} tensors given to an execution on {}", to_string(src.device),
            to_string(device));
}

}  // namespace cpb
