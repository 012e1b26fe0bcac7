// The node role of the invalidation figure (invalidate_roles.cpp).
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

void invalidate_sharers(member& m, const params& p, const tick_clock& clk);

} // namespace aether::bench
