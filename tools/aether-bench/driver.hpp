// Runs one figure in one placement: builds its processes' environment, starts them through the
// launcher, and turns what they report into checked result rows.
#pragma once

#include "tools/aether-bench/figures.hpp"
#include "tools/aether-bench/record.hpp"

#include <optional>
#include <string>
#include <vector>

namespace aether::bench {

enum class placement { free, pinned };
const char* to_string(placement p) noexcept;

struct row_result {
    std::string name;
    std::string family;
    std::string mode;
    placement where = placement::free;
    bool ok = false;
    std::string error; // why the figure failed (ok == false)
    record row;        // node 0's row as reported
    std::optional<double> handoffs_per_op;
    std::optional<double> ratio_to_floor;
    std::string floor;
    bool verified = true;            // every counter expectation held
    std::vector<std::string> checks; // "node1.invalidations_sent=80000 (want 80000)"
    std::vector<std::string> failed_checks;
    std::string diagnostics; // tails of the nodes' logs, for a failed figure (or --verbose)
};

struct run_context {
    std::string secret;   // AETHER_SECRET of this run
    int cpu = -1;         // the CPU of the pinned placement
    bool verbose = false; // node logs of successful figures too
};

std::vector<row_result> run_figure(const figure& f, placement where, const run_context& ctx);

} // namespace aether::bench
