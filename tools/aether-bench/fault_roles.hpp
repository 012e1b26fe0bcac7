// The node roles of the fault figures (fault_roles.cpp): a plain load or store that faults.
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

enum class fault_op { read_remote, write_upgrade, read_local };

void fault_figure(member& m, const params& p, const tick_clock& clk, fault_op kind);

} // namespace aether::bench
