#include "reports/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "common/errors.h"
#include "common/input_file.h"

// A write the disk refused (full, file-size limit, I/O error): exit 3, not bad input.
#define CPB_WRITE_ERROR(...) \
  ::cpb::detail::raise_at<::cpb::reports::WriteError>(__FILE__, __LINE__, __VA_ARGS__)

namespace cpb::reports {
namespace {

namespace fs = std::filesystem;

std::string parent_dir(const std::string& path) {
  auto parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// errno values that mean "the disk would not take the bytes", as opposed to a path
// the user got wrong.
bool is_space_error(int err) {
  return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO;
}

// Writes all of `data`; on failure returns the errno (0 on success).
int write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The output path itself: refused when it names a directory or anything that is not a
// regular file (renaming over /dev/zero or a FIFO must never happen).
void check_destination(const std::string& path) {
  CPB_REQUIRE(!path.empty(), "empty output path; give a file name");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    CPB_REQUIRE(!S_ISDIR(st.st_mode), "output path '{}' is a directory; give a file", path);
    CPB_REQUIRE(S_ISREG(st.st_mode),
                "output path '{}' exists and is not a regular file (a device or FIFO); give a "
                "file",
                path);
  }
}

// mkstemp next to `path`; InputError for a bad folder, WriteError for a full disk.
int make_temp(const std::string& path, std::string& tmpl) {
  tmpl = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd >= 0) return fd;
  int err = errno;
  if (is_space_error(err))
    CPB_WRITE_ERROR("cannot write output '{}': {}", path, std::strerror(err));
  CPB_INPUT_ERROR("cannot write output '{}': folder '{}' is not writable or does not exist ({})",
                  path, parent_dir(path), std::strerror(err));
}

}  // namespace

std::string dump_json(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_json_text(const std::string& text, const std::string& name) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range 406 for a number beyond double (1e400).
    CPB_INPUT_ERROR("'{}' is not valid JSON: {}", name, e.what());
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  check_destination(path);
  std::string tmpl;
  int fd = make_temp(path, tmpl);
  int err = write_all(fd, content);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (err != 0) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    CPB_WRITE_ERROR("cannot write '{}': {} (the previous file, if any, is unchanged)", path,
                    std::strerror(err));
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmpl.c_str());
    CPB_WRITE_ERROR("cannot write output '{}': rename failed ({})", path, std::strerror(err));
  }
  // Make the rename itself durable.
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_json_atomic(const std::string& path, const nlohmann::json& doc) {
  write_file_atomic(path, dump_json(doc, 2) + "\n");
}

void check_writable(const std::string& path) {
  check_destination(path);
  std::string tmpl;
  int fd = make_temp(path, tmpl);
  ::close(fd);
  ::unlink(tmpl.c_str());
}

void require_not_an_input(const std::string& out, const std::string& out_flag,
                          const std::vector<std::pair<std::string, std::string>>& inputs) {
  // Resolved where possible (symlinks, ".."); a path the system cannot resolve (too
  // long, a loop) is compared as written, made absolute.
  auto resolved = [](const std::string& p) {
    std::error_code ec;
    fs::path a = fs::absolute(p, ec);
    if (ec) a = p;
    fs::path c = fs::weakly_canonical(a, ec);
    return (ec ? a : c).lexically_normal();
  };
  for (const auto& [in, what] : inputs) {
    if (in.empty() || out.empty()) continue;
    std::error_code e1, e2, e3;
    bool both = fs::exists(out, e1) && fs::exists(in, e2);
    bool same = both ? fs::equivalent(out, in, e3) : resolved(out) == resolved(in);
    CPB_REQUIRE(!same,
                "{} '{}' is the same file as the {} '{}': writing it would destroy it; "
                "give another path",
                out_flag, out, what, in);
  }
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json_text(read_input_file(path, "input file"), path);
}

Journal::Journal(const std::string& path, bool truncate) : path_(path) {
  check_destination(path);
  // O_NONBLOCK: open() on a FIFO must not wait (check_destination raced with a rename).
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd_ < 0) {
    int err = errno;
    if (is_space_error(err))
      CPB_WRITE_ERROR("cannot open journal '{}': {}", path, std::strerror(err));
    CPB_INPUT_ERROR("cannot open journal '{}': {}", path, std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    CPB_INPUT_ERROR("journal '{}' is not a regular file", path);
  }
  ::fcntl(fd_, F_SETFL, O_APPEND);
  if (truncate) {
    if (::ftruncate(fd_, 0) != 0)
      CPB_WRITE_ERROR("cannot truncate journal '{}': {}", path, std::strerror(errno));
    return;
  }
  // Keep whole lines only: a torn tail would glue itself to the next record and turn
  // a readable journal into one that fails at that line forever.
  std::string text = read_input_file(path, "journal");
  size_t keep = text.rfind('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  if (keep < text.size()) {
    if (::ftruncate(fd_, static_cast<off_t>(keep)) != 0 || ::fsync(fd_) != 0)
      CPB_WRITE_ERROR("cannot cut the torn last line of journal '{}': {}", path,
                      std::strerror(errno));
    cut_bytes_ = static_cast<int64_t>(text.size() - keep);
    fmt::print(stderr, "cpbench: journal '{}': cut a torn last line ({} bytes) before appending\n",
               path, cut_bytes_);
  }
  size_ = static_cast<int64_t>(keep);
}

Journal::Journal(Journal&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(other.fd_),
      size_(other.size_),
      cut_bytes_(other.cut_bytes_) {
  other.fd_ = -1;
}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    size_ = other.size_;
    cut_bytes_ = other.cut_bytes_;
    other.fd_ = -1;
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const nlohmann::json& record) {
  CPB_CHECK(fd_ >= 0, "append to a closed journal");
  const std::string line = dump_json(record) + "\n";
  // One write() per line: with O_APPEND the line lands whole at the end, or not at all
  // once the failure below cuts the partial bytes off.
  int err = write_all(fd_, line);
  if (err == 0 && ::fsync(fd_) != 0) err = errno;
  if (err != 0) {
    bool cut = ::ftruncate(fd_, static_cast<off_t>(size_)) == 0;
    if (cut) ::fsync(fd_);
    CPB_WRITE_ERROR("cannot append to journal '{}': {}; {}", path_, std::strerror(err),
                    cut ? "it is cut back to its last whole line, every record before this one "
                          "is kept"
                        : "and it could not be cut back to its last whole line");
  }
  size_ += static_cast<int64_t>(line.size());
}

std::vector<nlohmann::json> Journal::read(const std::string& path) {
  const std::string text = read_input_file(path, "journal");
  std::vector<nlohmann::json> records;
  size_t pos = 0;
  int line_no = 0;
  bool header_seen = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const bool terminated = nl != std::string::npos;
    std::string line = text.substr(pos, terminated ? nl - pos : std::string::npos);
    pos = terminated ? nl + 1 : text.size();
    ++line_no;
    if (line.empty()) continue;
    // No exceptions: a number beyond double (1e400) is a bad line like any other.
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!header_seen) {
      // Checked before anything is appended, so --resume on a wrong file leaves it alone.
      if (j.is_discarded() || !j.is_object() || j.value("journal", "") != "cpbench")
        CPB_INPUT_ERROR(
            "'{}' is not a cpbench journal: line {} is not the header line "
            "{{\"journal\":\"cpbench\",...}} that cpbench run/sweep write first",
            path, line_no);
      header_seen = true;
    }
    if (j.is_discarded() || !j.is_object()) {
      // Only an unterminated last line can come from a crash mid-append (each record is
      // one write() ending in '\n'); anything else is damage that must not pass silently.
      if (!terminated) {
        fmt::print(stderr, "cpbench: journal '{}': dropped torn last line {} (crash mid-write)\n",
                   path, line_no);
        break;
      }
      CPB_INPUT_ERROR(
          "journal '{}' line {}: {} (expected one JSON object per line; only an "
          "unterminated last line may be torn)",
          path, line_no, j.is_discarded() ? "not valid JSON" : "not a JSON object");
    }
    records.push_back(std::move(j));
  }
  return records;
}

}  // namespace cpb::reports
