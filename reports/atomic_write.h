// Durable output: a report is written to a temporary file in the destination's own
// folder, fsync'd, then renamed over the destination, so a reader sees the old file
// or the whole new one, never half of it. The journal is the crash-safe sibling:
// one JSON document per line, each line flushed and fsync'd before append() returns.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace cpb::reports {

// Throws InputError naming `path` when its folder cannot be written.
void write_file_atomic(const std::string& path, const std::string& content);
void write_json_atomic(const std::string& path, const nlohmann::json& doc);

// Throws InputError naming `path` when it cannot be created/written. Checked before
// a run starts, so a bad --out fails in a second, not after an hour of benchmarks.
void check_writable(const std::string& path);

nlohmann::json read_json_file(const std::string& path);  // InputError on unreadable/invalid

// Appends one compact JSON line per record; a crash loses no finished record.
class Journal {
 public:
  Journal() = default;
  // Creates the file, or appends to it (truncate = false) or starts it over (true).
  // InputError naming the path on failure.
  explicit Journal(const std::string& path, bool truncate = false);
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  void append(const nlohmann::json& record);

  // Every record of a journal file, header line(s) included. Strict: the first line
  // must be the {"journal":"cpbench",...} header, else InputError "is not a cpbench
  // journal"; an unparsable line is an InputError naming the file and line, except an
  // unterminated last line (crash mid-write), which is dropped with a warning on stderr.
  // An empty file has no records.
  static std::vector<nlohmann::json> read(const std::string& path);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace cpb::reports
