// The node role of the scale figures (scale_roles.cpp).
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

void scale(member& m, const params& p, const tick_clock& clk);

} // namespace aether::bench
