// Durable output: a report is written to a temporary file in the destination's own
// folder, fsync'd, then renamed over the destination, so a reader sees the old file
// or the whole new one, never half of it. The journal is the crash-safe sibling:
// one JSON document per line, each line written whole and fsync'd before append()
// returns; a failed append cuts the file back to its last whole line.
// Decision: a failure to write (disk full, file-size limit, I/O error) is a WriteError,
// not an InputError: main exits 3 for it (docs/reliability.md), because the cases that
// ran are good and kept; a bad path (missing folder, no permission) stays exit 2.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cpb::reports {

// The output could not be written although the path is fine: exit status 3.
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
inline constexpr int kExitWriteFailed = 3;

// Throws InputError naming `path` when its folder cannot be written (or the path is a
// directory, a device, a FIFO), WriteError when the disk refuses the bytes.
void write_file_atomic(const std::string& path, const std::string& content);
void write_json_atomic(const std::string& path, const nlohmann::json& doc);

// Throws InputError naming `path` when it cannot be created/written. Checked before
// a run starts, so a bad --out fails in a second, not after an hour of benchmarks.
void check_writable(const std::string& path);

// InputError when `out` is the same file as one of `inputs` (e.g. `report g.json --out
// g.json`, `sweep --journal r.json --out r.json`): writing it would destroy an input.
void require_not_an_input(const std::string& out, const std::string& out_flag,
                          const std::vector<std::pair<std::string, std::string>>& inputs);

// One JSON text as written to reports and journals: invalid UTF-8 in a string (a path
// given in another encoding) is replaced by U+FFFD instead of failing the write.
std::string dump_json(const nlohmann::json& doc, int indent = -1);
// Parses `text`; InputError naming `name` for invalid JSON and for numbers out of the
// double range (1e400).
nlohmann::json parse_json_text(const std::string& text, const std::string& name);
// A regular file of bounded size, parsed (common/input_file.h, parse_json_text).
nlohmann::json read_json_file(const std::string& path);

// Appends one compact JSON line per record; a crash loses no finished record.
class Journal {
 public:
  Journal() = default;
  // Creates the file, or starts it over (truncate = true), or appends to it (false):
  // appending first cuts a torn last line (no '\n': a crash or a full disk mid-write),
  // so what follows starts on a line of its own. InputError naming the path on failure.
  explicit Journal(const std::string& path, bool truncate = false);
  Journal(Journal&& other) noexcept;
  Journal& operator=(Journal&& other) noexcept;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  ~Journal();

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // WriteError when the line cannot be written and fsync'd whole; the file is then cut
  // back to the records before it, so it stays readable and resumable.
  void append(const nlohmann::json& record);
  // Bytes of the torn tail cut when the journal was opened for appending.
  int64_t cut_bytes() const { return cut_bytes_; }

  // Every record of a journal file, header line(s) included. Strict: the first line
  // must be the {"journal":"cpbench",...} header, else InputError "is not a cpbench
  // journal"; a line that is not a JSON object is an InputError naming the file and
  // line, except an unterminated last line (crash mid-write), which is dropped with a
  // warning on stderr. An empty file has no records.
  static std::vector<nlohmann::json> read(const std::string& path);

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;  // bytes of whole lines: what a failed append cuts back to
  int64_t cut_bytes_ = 0;
};

}  // namespace cpb::reports
