// The roles of the raw TCP floors (floor_roles.cpp): no Aether protocol between the processes.
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

// The two ends of tcp_floor_*, tcp_stream_GBps and scan_floor_*: a client/server pair, no Aether node.
int tcp_server(const params& p);
int tcp_client(const params& p, const tick_clock& clk);
// tcp_fanout_4_64B: Aether nodes that only introduce their processes to each other.
void tcp_fanout(member& m, const params& p, const tick_clock& clk);

} // namespace aether::bench
