// The table, the hand-off summary and the JSON array aether-bench prints.
#pragma once

#include "tools/aether-bench/driver.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace aether::bench {

// Fills ratio_to_floor from the floor rows of the same placement in `rows`.
void attach_floor_ratios(std::vector<row_result>& rows);

void print_table(std::FILE* out, const std::vector<row_result>& rows);
void print_handoff_summary(std::FILE* out, const std::vector<row_result>& rows);
// How often the two ends of each TCP floor ran on different CPUs: in the free placement the kernel
// may keep them on one CPU, which changes what the floor means.
void print_floor_notes(std::FILE* out, const std::vector<row_result>& rows);
void print_json(std::FILE* out, const std::vector<row_result>& rows);

} // namespace aether::bench
