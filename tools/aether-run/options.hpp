// aether-run's command line: launcher options, then "--", then the program and its arguments.
#pragma once

#include "tools/aether-run/outcome.hpp"

#include <optional>
#include <string>
#include <vector>

namespace aether::run {

inline constexpr int max_nodes = 256;
inline constexpr double default_timeout_s = 300.0;
// Long enough for any real run, short enough that the deadline cannot overflow the clock.
inline constexpr double max_timeout_s = 1e8;

struct launch_options {
    int node_count = 0;
    std::optional<int> base_port;
    double timeout_s = default_timeout_s;
    std::vector<outcome> expected; // one per node, exit status 0 unless --expect said otherwise
    bool preload = false;
    bool help = false;
    std::vector<std::string> command; // PROGRAM ARGS... (everything after "--")
    // The program of each node: one entry for all nodes, or one per node when the command holds
    // standalone ":" separators ("A args : B args" runs A on node 0 and B on node 1).
    std::vector<std::vector<std::string>> programs;

    const std::vector<std::string>& program_of(int node) const {
        return programs.size() == 1 ? programs.front() : programs.at(static_cast<std::size_t>(node));
    }
};

struct parse_result {
    std::optional<launch_options> options; // empty on a usage error
    std::string error;                     // why, when options is empty
};

// args excludes argv[0]. --help wins over every other problem so that it always works.
parse_result parse_command_line(const std::vector<std::string>& args);

std::string usage_text();             // one line, for usage errors
std::string help_text();              // the full --help text
std::string format_seconds(double s); // "300", "0.5": the timeout as a person would write it

} // namespace aether::run
