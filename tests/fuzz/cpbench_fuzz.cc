// cpbench_fuzz: a mutation-based fuzz driver for every entry point of `cpbench` that
// parses input (issue 11): the arguments of each subcommand, and the files they read
// (document-length histograms, sweep configs, reports, journals). It spawns the real
// binary, so the contract checked is the user's:
//   exit 0, 1, 2, 3 or 124; never a signal; never "internal error"; exit 2 ends
//   with one line naming the problem (only cpbench's own notes may precede it);
//   at most --limit seconds per run.
// Deterministic: one seed gives the same inputs in the same order. Phase 1 runs every
// corpus entry as written (the regression inputs); phase 2 mutates random entries
// for --runs runs or until --seconds is spent, whichever comes first. A finding is
// written to --findings as a .case file that phase 1 can replay.
//
// A corpus entry (tests/fuzz/corpus/*.case) is text, one directive per line, values
// with C escapes (\\, \n, \t, \xNN):
//   arg VALUE              one argument (the first is the subcommand)
//   file NAME CONTENT      a file NAME in the work dir; an argument "@NAME" is its path
//   special NAME KIND      "@NAME" is a fifo (nobody writes), devzero, dir or missing
// `run` and `sweep` always get --dry-run (validation and planning only: a valid
// mutated case would otherwise run a benchmark), and output flags may only name
// files in the work dir.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Entry {
  std::string origin;  // corpus file or "mutant N of <file>"
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> files;     // name, content
  std::vector<std::pair<std::string, std::string>> specials;  // name, kind
};

// ---- the .case format ----

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char c = s[++i];
    if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == 'x' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Entry read_entry(const fs::path& path) {
  Entry e;
  e.origin = path.filename().string();
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find(' ');
    std::string word = line.substr(0, sp),
                rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (word == "arg") {
      e.args.push_back(unescape(rest));
    } else if (word == "file" || word == "special") {
      auto sp2 = rest.find(' ');
      std::string name = rest.substr(0, sp2);
      std::string value = sp2 == std::string::npos ? "" : unescape(rest.substr(sp2 + 1));
      (word == "file" ? e.files : e.specials).push_back({name, value});
    } else {
      throw std::runtime_error(path.string() + ": unknown directive '" + word + "'");
    }
  }
  return e;
}

std::string write_entry(const Entry& e, const std::string& why) {
  std::ostringstream o;
  o << "# " << why << "\n# from " << e.origin << "\n";
  for (const auto& a : e.args) o << "arg " << escape(a) << "\n";
  for (const auto& [n, c] : e.files) o << "file " << n << " " << escape(c) << "\n";
  for (const auto& [n, k] : e.specials) o << "special " << n << " " << k << "\n";
  return o.str();
}

// ---- running one entry ----

struct Outcome {
  bool signaled = false, timed_out = false;
  int code = 0;  // exit status or signal number
  double seconds = 0;
  std::string err;  // stderr, first 64 KiB
};

// Output flags (plan's --json too) may only name a file in the work dir: a mutated `--out
// /dev/null` would otherwise be replaced by an atomic rename, as root.
bool is_output_flag(const std::string& a) {
  for (const char* f : {"--out", "--journal", "--resume", "--markdown-out", "--json"})
    if (a == f || a.rfind(std::string(f) + "=", 0) == 0) return true;
  return false;
}

std::vector<std::string> command_of(const Entry& e, const fs::path& work) {
  std::vector<std::string> argv;
  for (size_t i = 0; i < e.args.size(); ++i) {
    std::string a = e.args[i];
    if (a.size() > 1 && a[0] == '@') {
      std::string name = a.substr(1);
      for (const auto& f : e.files)
        if (f.first == name) a = (work / name).string();
      for (const auto& s : e.specials)
        if (s.first == name) a = s.second == "devzero" ? "/dev/zero" : (work / name).string();
    }
    if (i > 0 && is_output_flag(e.args[i - 1]) && a.find('/') != std::string::npos &&
        a.rfind(work.string(), 0) != 0)
      a = "out.json";
    if (is_output_flag(a) && a.find('=') != std::string::npos) a = a.substr(0, a.find('='));
    argv.push_back(a);
  }
  if (!argv.empty() && (argv[0] == "run" || argv[0] == "sweep")) argv.push_back("--dry-run");
  return argv;
}

void prepare(const Entry& e, const fs::path& work) {
  std::error_code ec;
  fs::remove_all(work, ec);
  fs::create_directories(work);
  for (const auto& [name, content] : e.files) {
    if (name.find('/') != std::string::npos) continue;
    std::ofstream(work / name, std::ios::binary) << content;
  }
  for (const auto& [name, kind] : e.specials) {
    if (name.find('/') != std::string::npos) continue;
    if (kind == "fifo") mkfifo((work / name).c_str(), 0600);
    if (kind == "dir") fs::create_directories(work / name);
  }
}

Outcome run_once(const std::string& binary, const std::vector<std::string>& args,
                 const fs::path& work, double limit_seconds) {
  fs::path err_path = work.parent_path() / "stderr.txt";
  std::vector<char*> argv;
  std::string bin = binary;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own group: a timeout kills everything it started
    int null_fd = open("/dev/null", O_RDWR);
    int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(err_fd, 2);
    if (chdir(work.c_str()) != 0) _exit(126);
    setenv("OMP_NUM_THREADS", "1", 1);
    // A sanitizer build (docs/reliability.md) reports through exit codes outside the
    // contract, so its findings fail the run like a crash.
    setenv("ASAN_OPTIONS", "exitcode=86:detect_leaks=0:abort_on_error=0", 0);
    setenv("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87:print_stacktrace=1", 0);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  Outcome o;
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r == pid) break;
    if (o.seconds > limit_seconds) {
      o.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!o.timed_out) {
    o.signaled = WIFSIGNALED(status);
    o.code = o.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  }
  std::ifstream in(err_path, std::ios::binary);
  o.err.resize(64 * 1024);
  in.read(o.err.data(), static_cast<std::streamsize>(o.err.size()));
  o.err.resize(static_cast<size_t>(in.gcount()));
  return o;
}

// "" when the outcome keeps the contract, else what broke it.
std::string verdict(const Outcome& o, double limit) {
  if (o.timed_out) return "no exit within " + std::to_string(limit) + " s";
  if (o.signaled) return "killed by signal " + std::to_string(o.code);
  if (o.code != 0 && o.code != 1 && o.code != 2 && o.code != 3 && o.code != 124)
    return "exit status " + std::to_string(o.code);
  if (o.err.find("internal error") != std::string::npos) return "internal error";
  if (o.err.find("Sanitizer") != std::string::npos ||
      o.err.find("runtime error:") != std::string::npos)
    return "sanitizer report";
  if (o.code == 2) {
    // The message is the last line; notes about inputs already read (a torn journal
    // tail dropped) may come before it. Every line is cpbench's own, none a trace.
    if (o.err.empty() || o.err.back() != '\n') return "exit 2 without a message line";
    std::istringstream lines(o.err);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("cpbench", 0) != 0) return "exit 2 with a stderr line not from cpbench";
  }
  return "";
}

// ---- mutations ----

const std::vector<std::string> kValues = {"",
                                          "0",
                                          "-0",
                                          "1",
                                          "2",
                                          "3",
                                          "-1",
                                          "64",
                                          "128",
                                          "1k",
                                          "4k",
                                          "4M",
                                          "1G",
                                          "4096M",
                                          "999999999999",
                                          "9223372036854775807",
                                          "9223372036854775808",
                                          "-9223372036854775808",
                                          "18446744073709551615",
                                          "18446744073709551616",
                                          "99999999999999999999999",
                                          "2147483648",
                                          "1e10",
                                          "1e400",
                                          "-1e400",
                                          "1e-400",
                                          "nan",
                                          "inf",
                                          "-inf",
                                          "0.5",
                                          "1.5",
                                          "0x10",
                                          "010",
                                          " 1",
                                          "1,2",
                                          ",",
                                          "1,,2",
                                          "a",
                                          "\xff\xfe",
                                          "a\xc0\xafz",
                                          std::string(5000, 'a'),
                                          "auto",
                                          "u2r2",
                                          "u2",
                                          "r2",
                                          "u0",
                                          "r999999",
                                          "u2r2u2",
                                          "causal",
                                          "full",
                                          "causal_document",
                                          "block_sparse",
                                          "sliding_window",
                                          "shared_question",
                                          "prefix_lm_causal",
                                          "block_causal_document",
                                          "zigzag",
                                          "contiguous",
                                          "strided",
                                          "ring_p2p",
                                          "usp",
                                          "loongtrain",
                                          "ulysses",
                                          "none",
                                          "fwd",
                                          "bwd",
                                          "fwd+bwd",
                                          "bf16",
                                          "fp8",
                                          "pile",
                                          "prolong64k",
                                          "self",
                                          "mpi",
                                          "nccl",
                                          "md",
                                          "csv",
                                          "text",
                                          "-",
                                          "--",
                                          "--seq",
                                          "/nonexistent/x.json",
                                          "missing.json",
                                          "out.json"};

const std::vector<std::string> kFlags = {"--seq",
                                         "--mask",
                                         "--kernel",
                                         "--method",
                                         "--degrees",
                                         "--sharding",
                                         "--heads",
                                         "--kv-heads",
                                         "--head-dim",
                                         "--dtype",
                                         "--pass",
                                         "--warmup",
                                         "--iters",
                                         "--seed",
                                         "--mask-seed",
                                         "--window",
                                         "--global-tokens",
                                         "--prefix",
                                         "--prefix-fraction",
                                         "--question",
                                         "--answers",
                                         "--block",
                                         "--keep",
                                         "--topk",
                                         "--doclen",
                                         "--long-share",
                                         "--timeout",
                                         "--inner-ring",
                                         "--placement",
                                         "--comm",
                                         "--out",
                                         "--max-side",
                                         "--tile",
                                         "--repeat",
                                         "--resume",
                                         "--journal",
                                         "--threshold",
                                         "--alpha",
                                         "--format",
                                         "--metric",
                                         "--on-duplicate",
                                         "--normalize",
                                         "--verify",
                                         "--keep-samples",
                                         "--json",
                                         "--help",
                                         "--detail",
                                         "--all"};

const std::vector<std::string> kTokens = {"1e400",
                                          "-1e400",
                                          "-1",
                                          "0",
                                          "null",
                                          "true",
                                          "[]",
                                          "{}",
                                          "\"\"",
                                          "9223372036854775808",
                                          "18446744073709551616",
                                          "-9223372036854775809",
                                          "1.5",
                                          "\"\xff\"",
                                          "[[[[[[[[[[",
                                          "}",
                                          "]",
                                          "\"a\":",
                                          ",",
                                          "\n",
                                          "NaN",
                                          "\"\\u0000\"",
                                          "\"\\ud800\"",
                                          "{\"id\":\"x\"}\n",
                                          "[1]\n",
                                          "4294967296",
                                          "1e10",
                                          "\"causal\"",
                                          "\"kind\"",
                                          "2147483648"};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  Entry mutate(const Entry& in) {
    Entry e = in;
    int n = 1 + pick(3);
    for (int i = 0; i < n; ++i) {
      bool on_file = !e.files.empty() && pick(3) == 0;
      if (on_file) {
        mutate_file(e.files[pick(e.files.size())].second);
      } else {
        mutate_args(e);
      }
    }
    return e;
  }

 private:
  size_t pick(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  const std::string& any(const std::vector<std::string>& v) { return v[pick(v.size())]; }

  void mutate_args(Entry& e) {
    auto& a = e.args;
    size_t i = a.size() > 1 ? 1 + pick(a.size() - 1) : a.size();  // never the subcommand
    switch (pick(7)) {
      case 0:
      case 1:
        if (i < a.size()) a[i] = any(kValues);
        break;
      case 2:
        a.insert(a.begin() + static_cast<long>(std::min(i, a.size())), {any(kFlags), any(kValues)});
        break;
      case 3:
        if (i < a.size()) a.erase(a.begin() + static_cast<long>(i));
        break;
      case 4:
        if (i < a.size()) a.insert(a.begin() + static_cast<long>(i), a[i]);
        break;
      case 5:
        if (i < a.size() && !a[i].empty()) {
          std::string& s = a[i];
          size_t k = pick(s.size());
          if (pick(2))
            s[k] = static_cast<char>(pick(256));
          else
            s.insert(k, 1, "0123456789,-.ekM"[pick(16)]);
        }
        break;
      case 6:
        if (i < a.size() && !e.files.empty()) a[i] = "@" + e.files[pick(e.files.size())].first;
        break;
    }
  }

  void mutate_file(std::string& s) {
    size_t k = pick(s.size() + 1);
    switch (pick(6)) {
      case 0:
        if (!s.empty()) s[std::min(k, s.size() - 1)] = static_cast<char>(pick(256));
        break;
      case 1:
        s.insert(k, any(kTokens));
        break;
      case 2:
        s.resize(k);  // torn
        break;
      case 3: {  // replace the number that starts at or after k
        size_t b = s.find_first_of("0123456789", k);
        if (b == std::string::npos) break;
        size_t e = s.find_first_not_of("0123456789.eE+-", b);
        s.replace(b, (e == std::string::npos ? s.size() : e) - b, any(kTokens));
        break;
      }
      case 4: {  // duplicate a line
        size_t b = s.rfind('\n', k == 0 ? 0 : k - 1);
        b = b == std::string::npos ? 0 : b + 1;
        size_t e = s.find('\n', b);
        if (e != std::string::npos) s.insert(b, s.substr(b, e - b + 1));
        break;
      }
      case 5:
        if (!s.empty()) s.erase(std::min(k, s.size() - 1), 1 + pick(8));
        break;
    }
  }

  std::mt19937_64 rng_;
};

struct Options {
  std::string cpbench, corpus, findings;
  fs::path work = fs::temp_directory_path() / ("cpbench_fuzz." + std::to_string(getpid()));
  uint64_t seed = 1;
  long runs = 500;
  double seconds = 60, limit = 10;
  bool verbose = false;  // one line per run: entry, exit status, first stderr line
};

int usage() {
  std::cerr << "usage: cpbench_fuzz --cpbench PATH --corpus DIR [--seed N] [--runs N]\n"
               "       [--seconds S] [--limit S] [--findings DIR] [--work DIR] [--verbose 1]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--cpbench")
      opt.cpbench = v;
    else if (k == "--corpus")
      opt.corpus = v;
    else if (k == "--findings")
      opt.findings = v;
    else if (k == "--work")
      opt.work = v;
    else if (k == "--seed")
      opt.seed = std::stoull(v);
    else if (k == "--runs")
      opt.runs = std::stol(v);
    else if (k == "--seconds")
      opt.seconds = std::stod(v);
    else if (k == "--limit")
      opt.limit = std::stod(v);
    else if (k == "--verbose")
      opt.verbose = v == "1";
    else
      return usage();
  }
  if (opt.cpbench.empty() || opt.corpus.empty() || argc % 2 == 0) return usage();
  opt.cpbench = fs::absolute(opt.cpbench).string();  // the child runs in the work dir
  opt.work = fs::absolute(opt.work);
  signal(SIGPIPE, SIG_IGN);

  std::vector<fs::path> paths;
  for (const auto& d : fs::directory_iterator(opt.corpus))
    if (d.path().extension() == ".case") paths.push_back(d.path());
  std::sort(paths.begin(), paths.end());
  std::vector<Entry> corpus;
  for (const auto& p : paths) corpus.push_back(read_entry(p));
  if (corpus.empty()) {
    std::cerr << "cpbench_fuzz: no .case files in " << opt.corpus << "\n";
    return 2;
  }

  const fs::path work = opt.work / "w";
  int findings = 0;
  long runs = 0;
  double slowest = 0;
  auto check = [&](const Entry& e) {
    prepare(e, work);
    std::vector<std::string> args = command_of(e, work);
    Outcome o = run_once(opt.cpbench, args, work, opt.limit);
    ++runs;
    slowest = std::max(slowest, o.seconds);
    std::string bad = verdict(o, opt.limit);
    if (opt.verbose)
      std::printf("%-40s exit %d %.2f s %s\n", e.origin.c_str(), o.code, o.seconds,
                  escape(o.err.substr(0, std::min<size_t>(o.err.find('\n'), 160))).c_str());
    if (bad.empty()) return;
    ++findings;
    std::string cmd;
    for (const auto& a : args)
      cmd += " '" + escape(a.substr(0, 200)) + (a.size() > 200 ? "...'" : "'");
    std::cerr << "FINDING (" << e.origin << "): " << bad << "\n  cpbench" << cmd
              << "\n  stderr: " << escape(o.err.substr(0, 600)) << "\n";
    if (!opt.findings.empty()) {
      fs::create_directories(opt.findings);
      std::ofstream(fs::path(opt.findings) / ("finding-" + std::to_string(findings) + ".case"))
          << write_entry(e, bad);
    }
  };

  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  for (const auto& e : corpus) check(e);  // phase 1: every regression input
  const long corpus_runs = runs;
  Mutator mutator(opt.seed);
  long mutants = 0;
  for (; mutants < opt.runs && elapsed() < opt.seconds; ++mutants) {
    const Entry& base = corpus[mutants % static_cast<long>(corpus.size())];
    Entry m = mutator.mutate(base);
    m.origin = "mutant " + std::to_string(mutants) + " of " + base.origin;
    check(m);
  }
  std::error_code ec;
  fs::remove_all(opt.work, ec);
  std::printf(
      "cpbench_fuzz: %ld corpus entries and %ld mutants (seed %llu) in %.1f s, slowest run "
      "%.2f s: %d finding(s)\n",
      corpus_runs, mutants, static_cast<unsigned long long>(opt.seed), elapsed(), slowest,
      findings);
  return findings == 0 ? 0 : 1;
}
