// Reading a file the user named (report, journal, sweep config, histogram). Decision:
// only a regular file of bounded size is read, so /dev/zero, a FIFO or a directory is
// a one-line input error (exit 2) at once instead of a read that never ends; the FIFO
// is opened non-blocking so not even open() waits for a writer.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/errors.h"

namespace cpb {

// Largest input file read (256 MiB): a report with per-iteration samples of thousands of
// cases is tens of MiB; anything bigger is not one of ours.
inline constexpr int64_t kMaxInputFileBytes = int64_t{256} << 20;

// The whole content of `path`; `what` names the role in messages ("sweep config").
inline std::string read_input_file(const std::string& path, const std::string& what,
                                   int64_t max_bytes = kMaxInputFileBytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) CPB_INPUT_ERROR("cannot read {} '{}': {}", what, path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    CPB_INPUT_ERROR("{} '{}' is not a regular file ({}); give a file", what, path,
                    S_ISDIR(st.st_mode)    ? "a directory"
                    : S_ISFIFO(st.st_mode) ? "a FIFO"
                    : S_ISCHR(st.st_mode)  ? "a character device"
                                           : "not a plain file");
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    CPB_INPUT_ERROR("{} '{}' is {} bytes; the limit is {} bytes", what, path,
                    static_cast<int64_t>(st.st_size), max_bytes);
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      CPB_INPUT_ERROR("cannot read {} '{}': {}", what, path, std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (static_cast<int64_t>(text.size()) > max_bytes) {  // grew while we read it
      ::close(fd);
      CPB_INPUT_ERROR("{} '{}' is over the limit of {} bytes", what, path, max_bytes);
    }
  }
  ::close(fd);
  return text;
}

}  // namespace cpb
