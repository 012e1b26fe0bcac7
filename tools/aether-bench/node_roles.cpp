// Which role function a node process runs: the one place that maps a role's name (figure::role,
// or tcp_client / tcp_server for a TCP floor's pair) to the code of its figure family. The roles
// themselves live in one file per family; node 0 always measures (docs/bench-method-notes.md).
#include "tools/aether-bench/node_roles.hpp"

#include "tools/aether-bench/api_roles.hpp"
#include "tools/aether-bench/fault_roles.hpp"
#include "tools/aether-bench/floor_roles.hpp"
#include "tools/aether-bench/invalidate_roles.hpp"
#include "tools/aether-bench/role_kit.hpp"
#include "tools/aether-bench/scale_roles.hpp"
#include "tools/aether-bench/scan_roles.hpp"
#include "tools/aether-bench/sync_roles.hpp"

namespace aether::bench {

int run_node_role(int argc, char** argv) {
    if (argc < 1) die("no role");
    const std::string role = argv[0];
    const params p = parse_params(argc, argv);
    // The driver kills a figure at its deadline; this is the backstop if the driver itself is gone.
    if (auto s = u64(p, "deadline_s", 0); s > 0) alarm(static_cast<unsigned>(s));

    if (role == "tcp_server") return tcp_server(p);
    const tick_clock clk = tick_clock::calibrate();
    if (role == "tcp_client") return tcp_client(p, clk);

    member m;
    m.barrier(setup_wait_ms, "join");
    if (role == "api_read_hit")
        api_figure(m, p, clk, api_op::read_hit);
    else if (role == "api_read_miss")
        api_figure(m, p, clk, api_op::read_miss);
    else if (role == "api_write")
        api_figure(m, p, clk, api_op::write);
    else if (role == "atomic_fetch_add")
        api_figure(m, p, clk, api_op::fetch_add);
    else if (role == "transport_ping")
        api_figure(m, p, clk, api_op::transport_ping);
    else if (role == "transport_fetch")
        api_figure(m, p, clk, api_op::transport_fetch);
    else if (role == "fault_read_remote")
        fault_figure(m, p, clk, fault_op::read_remote);
    else if (role == "fault_write_upgrade")
        fault_figure(m, p, clk, fault_op::write_upgrade);
    else if (role == "fault_read_local")
        fault_figure(m, p, clk, fault_op::read_local);
    else if (role == "resident_scan")
        resident_scan(m, p, clk);
    else if (role == "seq_scan_remote")
        seq_scan_remote(m, p, clk);
    else if (role == "uffd_install")
        uffd_install(m, p, clk);
    else if (role == "invalidate_sharers")
        invalidate_sharers(m, p, clk);
    else if (role == "tcp_fanout")
        tcp_fanout(m, p, clk);
    else if (role == "scale")
        scale(m, p, clk);
    else if (role == "token_pass")
        token_pass(m, p, clk);
    else if (role == "cas_lock")
        cas_lock(m, p, clk);
    else
        die("unknown role " + role);

    std::fflush(stdout);
    std::fflush(stderr);
    // Node 0 lingers so that its service thread delivers the last barrier's replies to the other
    // nodes before the process (and its connections) go away.
    if (m.id() == 0 && m.count() > 1) sleep_ms(200);
    // No destructors: the runtime's threads may still be waiting on peers that already left.
    _exit(0);
}

} // namespace aether::bench
