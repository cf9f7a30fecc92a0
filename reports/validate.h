// Report validator: checks a JSON document against schema v1 (reports/SCHEMA.md):
// required fields and their types, enumerations, and the invariants that make the
// numbers trustworthy (min <= p10 <= median <= p90 <= max, one rank entry per rank,
// summary counts that match the cases). Reads JSON, not structs, so it also checks
// reports written by older builds or edited by hand.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace cpb::reports {

// Every problem found, as "path: what is wrong"; empty means valid.
std::vector<std::string> validate_report(const nlohmann::json& report);

// One case object (also what each journal line holds).
std::vector<std::string> validate_case(const nlohmann::json& c, int world_size,
                                       const std::string& where = "case");

}  // namespace cpb::reports
