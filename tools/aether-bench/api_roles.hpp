// The node roles of the API figures (api_roles.cpp): one C API call, or one request through the
// runtime's transport, per timed operation.
#pragma once

#include "tools/aether-bench/role_kit.hpp"

namespace aether::bench {

// transport_ping and transport_fetch take api_read_miss apart: the same request path without the
// directory (a ping), then a page fetched from the home without being installed here.
enum class api_op { read_hit, read_miss, write, fetch_add, transport_ping, transport_fetch };

void api_figure(member& m, const params& p, const tick_clock& clk, api_op kind);

} // namespace aether::bench
