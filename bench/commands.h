// Subcommands beyond run/list/mask/validate: sweep (JSON config, journal, resume),
// compare (regression check) and report (merge + tables). Decision: each registers
// itself on the CLI11 app and runs from its own callback, ending the process with
// its exit status, so main() needs one line per command and no dispatch code.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace cpb::bench {

// `mpirun -np P cpbench sweep config.json --out run.json [--resume run.json.jsonl]`
void add_sweep_command(CLI::App& app, const std::vector<std::string>& command_line, int* argc,
                       char*** argv);
// `cpbench compare base.json new.json [--threshold 5%] [--metric-threshold name=x]`
void add_compare_command(CLI::App& app);
// `cpbench report a.json b.json ... [--format md|csv] [--out merged.json]`
void add_report_command(CLI::App& app);

}  // namespace cpb::bench
