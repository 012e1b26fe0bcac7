// What aether-bench runs inside the processes it starts: one Aether node of a figure's cluster, or
// one end of a raw TCP floor measurement. The driver re-executes itself as
// `aether-bench __node ROLE key=value...` with the AETHER_* environment of the node.
#pragma once

namespace aether::bench {

inline constexpr const char* node_role_flag = "__node";
// The descriptor a node writes its records to (set by the driver, inherited across exec).
inline constexpr const char* result_fd_env = "AETHER_BENCH_RESULT_FD";

// argv[0] is the role; the rest are key=value parameters. Returns the process exit status.
int run_node_role(int argc, char** argv);

} // namespace aether::bench
