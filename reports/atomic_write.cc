#include "reports/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/errors.h"

namespace cpb::reports {
namespace {

std::string parent_dir(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) CPB_INPUT_ERROR("cannot write '{}': {}", path, std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  CPB_REQUIRE(!path.empty(), "empty output path; give a file name");
  CPB_REQUIRE(!std::filesystem::is_directory(path), "output path '{}' is a directory; give a file",
              path);
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0)
    CPB_INPUT_ERROR("cannot write output '{}': folder '{}' is not writable ({})", path,
                    parent_dir(path), std::strerror(errno));
  try {
    write_all(fd, content, path);
    if (::fsync(fd) != 0) CPB_INPUT_ERROR("cannot fsync '{}': {}", tmpl, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw;
  }
  ::fchmod(fd, 0644);
  ::close(fd);
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    CPB_INPUT_ERROR("cannot write output '{}': rename failed ({})", path, std::strerror(err));
  }
  // Make the rename itself durable.
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_json_atomic(const std::string& path, const nlohmann::json& doc) {
  write_file_atomic(path, doc.dump(2) + "\n");
}

void check_writable(const std::string& path) {
  CPB_REQUIRE(!path.empty(), "empty output path; give a file name");
  CPB_REQUIRE(!std::filesystem::is_directory(path), "output path '{}' is a directory; give a file",
              path);
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0)
    CPB_INPUT_ERROR("cannot write output '{}': folder '{}' is not writable or does not exist ({})",
                    path, parent_dir(path), std::strerror(errno));
  ::close(fd);
  ::unlink(tmpl.c_str());
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) CPB_INPUT_ERROR("cannot read '{}': {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    CPB_INPUT_ERROR("'{}' is not valid JSON: {}", path, e.what());
  }
}

Journal::Journal(const std::string& path, bool truncate) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0),
               0644);
  if (fd_ < 0) CPB_INPUT_ERROR("cannot open journal '{}': {}", path, std::strerror(errno));
}

Journal::Journal(Journal&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const nlohmann::json& record) {
  CPB_CHECK(fd_ >= 0, "append to a closed journal");
  // One write() per line: with O_APPEND the line lands whole at the end.
  write_all(fd_, record.dump() + "\n", path_);
  if (::fsync(fd_) != 0)
    CPB_INPUT_ERROR("cannot fsync journal '{}': {}", path_, std::strerror(errno));
}

std::vector<nlohmann::json> Journal::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) CPB_INPUT_ERROR("cannot read journal '{}': {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
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
    if (j.is_discarded()) {
      // Only an unterminated last line can come from a crash mid-append (each record is
      // one write() ending in '\n'); anything else is damage that must not pass silently.
      if (!terminated) {
        fmt::print(stderr, "cpbench: journal '{}': dropped torn last line {} (crash mid-write)\n",
                   path, line_no);
        break;
      }
      CPB_INPUT_ERROR(
          "journal '{}' line {}: not valid JSON (expected one JSON object per line; only an "
          "unterminated last line may be torn)",
          path, line_no);
    }
    records.push_back(std::move(j));
  }
  return records;
}

}  // namespace cpb::reports
