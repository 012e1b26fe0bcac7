// The node roles of the scan figures (scan_roles.cpp).
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

void resident_scan(member& m, const params& p, const tick_clock& clk);
void seq_scan_remote(member& m, const params& p, const tick_clock& clk);
void uffd_install(member& m, const params& p, const tick_clock& clk);

} // namespace aether::bench
