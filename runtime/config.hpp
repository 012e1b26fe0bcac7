// How a node learns its place in the cluster and its settings: from the environment (AETHER_*), a
// cluster file it names (AETHER_CONFIG), or seraph_aether_init's arguments. Nothing about the
// cluster is hard-coded.
#pragma once
#include "aether/internal/guard.hpp"
#include "aether/internal/result.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/thread_priority.hpp"
#include "fault/window.hpp"
#include "runtime/fault_resolver.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aether {

inline constexpr std::size_t default_home_bytes = std::size_t{1} << 30; // reserved, backed on use

struct runtime_config {
    node_id self = 0;
    node_id node_count = 1;
    std::vector<std::string> peers; // "host:port" per node id; empty: in-process nodes only
    // "host:port" this node listens on when it is not the address the others dial (peers[self]):
    // behind NAT, or to listen on every interface (0.0.0.0:port, [::]:port). Unset: peers[self].
    std::optional<std::string> bind;
    std::string secret; // empty: a random key (a cluster inside one process)
    std::uint32_t timeout_ms = SERAPH_AETHER_TIMEOUT_MS;
    std::size_t home_bytes = default_home_bytes;
    fault::fault_mode mode = fault::fault_mode::handler;
    store_policy stores = store_policy::sigbus; // a store to unreachable memory
    std::uint32_t void_retry_ms = 1000;         // how long a VOID page stands before a retry
    // How long a home's reply lets this node use its copies of that home's pages without hearing
    // from it again (runtime/lease.hpp); also how long a home waits before it forgets the copies
    // of a node it cannot reach. Unset: see effective_lease_ms().
    std::optional<std::uint32_t> lease_ms;
    // How long a peer that answered before may stay silent before it is suspected (the failure
    // detector, runtime::tend_peers; heartbeats every quarter of it). Unset: see
    // effective_suspect_ms().
    std::optional<std::uint32_t> suspect_ms;
    std::uint64_t fault_spin_ns = 0; // handler thread: poll this long before sleeping
    // Requesters and service threads poll this long for the next reply or request before they
    // sleep: a reply that comes within it costs no cross-CPU wake-up (20-35 us on our machines).
    // Unset: see effective_poll_ns().
    std::optional<std::uint64_t> poll_ns;
    // A read fault in a sequential scan of another node's memory fetches up to this many pages
    // (1: no readahead). See runtime/readahead.hpp.
    std::uint32_t readahead_pages = 64;
    // The hold window (cache::hold_remaining_ns): an invalidation waits at most this long for the
    // access that faulted for a copy to use it. Handler mode only (SIGBUS mode needs none).
    std::uint64_t hold_ns = 50'000;
    // Handler mode: the most fault-handler threads (fault/handler_pool.hpp); one thread serves
    // faults strictly in turn, more let a fault that must wait not hold up the others.
    std::uint32_t fault_threads = 8;
    // The scheduling of the runtime's own threads (thread_priority.hpp).
    thread_priority threads = thread_priority::automatic;
    // The transport backend by name (transport/backends.hpp); "auto" or empty: the first of this
    // build's backends that can run here.
    std::string transport = "auto";
    // The admin socket (docs/admin.md): its directory ("off": none), and the cluster's name, which
    // names the default directory. Unset directory: admin::default_dir(cluster, secret), for a
    // cluster of processes; none for a cluster inside one process.
    std::optional<std::string> admin_dir;
    std::string cluster;
    // Latency histograms (runtime/stats.hpp, node_latencies) are recorded; off only to measure
    // what recording costs.
    bool latency_histograms = true;
    // Serve Prometheus metrics over HTTP at this host:port (port 0: any; docs/admin.md). Unset: no.
    std::optional<std::string> metrics;
    // A socket already listening on this node's own address, handed over by the launcher
    // (AETHER_LISTEN_FD; -1: none, the node binds its address itself). A launcher that binds the
    // ports it hands out leaves no moment in which another process can take one before its node
    // listens; a port chosen free and bound later can be (EADDRINUSE at init).
    int listen_fd = -1;
};

// The settings every init honours when present: AETHER_TIMEOUT_MS, AETHER_LOG, AETHER_HOME_SIZE,
// AETHER_FAULT_MODE, AETHER_VOID_POLICY, AETHER_VOID_RETRY_MS, AETHER_POLL_US, AETHER_FAULT_SPIN_US,
// AETHER_READAHEAD_PAGES, AETHER_HOLD_US, AETHER_FAULT_THREADS, AETHER_THREAD_PRIORITY, AETHER_TRANSPORT,
// AETHER_LEASE_MS, AETHER_SUSPECT_MS, AETHER_ADMIN_DIR, AETHER_CLUSTER, AETHER_METRICS,
// AETHER_LATENCY_HISTOGRAMS; and before them the same settings from the [settings] of the cluster file that
// AETHER_CONFIG names (config_file.hpp), if it does: a variable overrides the file.
// A bad value is an error naming the variable, or the file, its line and the key.
setup_result<void> apply_optional_env(runtime_config& c);
// The whole cluster description: AETHER_NODE_ID, AETHER_NODE_COUNT, AETHER_PEERS, AETHER_BIND,
// AETHER_SECRET, AETHER_LISTEN_FD, and the optional settings above. With AETHER_CONFIG, the
// file's [[node]] entries give the node count, the addresses and this node's bind address, and its
// secret or secret_file the secret; each variable that is set overrides the file's value, and an
// AETHER_NODE_COUNT that disagrees with the file's node list is an error. AETHER_NODE_ID always
// comes from the environment: one file serves every node of the cluster.
setup_result<runtime_config> config_from_env();

// What aetherctl needs to find a cluster's admin sockets (docs/admin.md), from the same
// configuration as its nodes, without a node id: the admin directory (AETHER_ADMIN_DIR, or the
// default from AETHER_CLUSTER or the secret, each from the environment or the cluster file), and
// the node count (0 when neither AETHER_NODE_COUNT nor the file gives it).
struct admin_target {
    std::string dir;
    node_id node_count = 0;
};
setup_result<admin_target> admin_target_from_env();
// The cluster secret as the nodes read it (AETHER_SECRET, or the cluster file's secret or
// secret_file), for aetherctl --peer; an error when there is none.
setup_result<std::string> cluster_secret_from_env();

// The polling time in force: AETHER_POLL_US when given; otherwise 50 us when the calling thread
// may run on more than one CPU, and 0 when it may run on only one, where polling would only keep
// the CPU from the peer whose answer it waits for.
std::uint64_t effective_poll_ns(const runtime_config& c) noexcept;
// The lease in force: AETHER_LEASE_MS when given; otherwise three quarters of the operation
// timeout (a home's own deadline for a request), between 20 ms and 2 s. No longer than that, a
// home that cannot reach a sharer forgets its copy within the deadline of the request that found
// it unreachable: a writer is not held up by it.
std::uint32_t effective_lease_ms(const runtime_config& c) noexcept;
// The silence time in force: AETHER_SUSPECT_MS when given; otherwise the operation timeout, the
// time after which a request to the peer would have failed anyway.
std::uint32_t effective_suspect_ms(const runtime_config& c) noexcept;
// A service loop's polling: effective_poll_ns, but at most 20 us when the loop runs real-time. A
// real-time thread that polls keeps every ordinary thread off its CPU meanwhile; with programs
// spinning on flags (as many runnable threads as CPUs) a 50 us poll after every request pushed
// the spinners onto one CPU, where each token round then waited out the 4 ms scheduler ticks
// (docs/performance.md, "token_pass_round").
std::uint64_t service_poll_ns(const runtime_config& c, thread_priority effective) noexcept;

// The scheduling the runtime's threads get: realtime or normal. `automatic` becomes realtime when
// the process may; an explicit `realtime` the process may not have is an error that says how to
// allow it (EPERM).
setup_result<thread_priority> effective_thread_priority(const runtime_config& c);

// "64M", "1G", "4096" -> bytes.
std::optional<std::size_t> parse_size(const std::string& text);

} // namespace aether
