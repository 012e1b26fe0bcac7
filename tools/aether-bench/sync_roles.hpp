// The node roles of the synchronization figures (sync_roles.cpp).
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

void token_pass(member& m, const params& p, const tick_clock& clk);
void cas_lock(member& m, const params& p, const tick_clock& clk);

} // namespace aether::bench
