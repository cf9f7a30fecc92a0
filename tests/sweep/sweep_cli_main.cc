// Test harness: a CLI with only the sweep/compare/report commands, so their end-to-end
// tests run the exact command code without depending on the main driver's wiring.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "bench/commands.h"
#include "common/errors.h"
#include "parallel/agree.h"
#include "reports/atomic_write.h"

int main(int argc, char** argv) {
  std::vector<std::string> command_line(argv, argv + argc);
  CLI::App app{"cpbench sweep/compare/report test harness", "cpbench"};
  app.require_subcommand(1);
  cpb::bench::add_sweep_command(app, command_line, &argc, &argv);
  cpb::bench::add_compare_command(app);
  cpb::bench::add_report_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const cpb::InputError& e) {
    fmt::print(stderr, "cpbench: error: {}\n", e.what());
    return 2;
  } catch (const cpb::reports::WriteError& e) {  // as bench/main.cc: exit 3
    fmt::print(stderr, "cpbench: write failed: {}\n", e.what());
    return cpb::reports::kExitWriteFailed;
  } catch (const cpb::AgreedError& e) {  // a failure every rank agreed on: its status
    fmt::print(stderr, "cpbench: error: {}\n", e.what());
    return e.exit_code();
  }
  return 0;
}
