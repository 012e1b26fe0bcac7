// Counters of one node, updated with relaxed atomics from any thread.
#pragma once
#include "aether/internal/guard.hpp"

#include "transport/transport.hpp"

#include <atomic>
#include <cstdint>

namespace aether {

struct node_counters {
    // The five counters of the C API.
    std::atomic<std::uint64_t> cache_hits{0};             // explicit reads served from the local copy
    std::atomic<std::uint64_t> cache_misses{0};           // explicit reads that had to obtain a copy
    std::atomic<std::uint64_t> remote_fetches{0};         // pages (or grants) obtained from another node
    std::atomic<std::uint64_t> invalidations_sent{0};     // invalidations this home sent
    std::atomic<std::uint64_t> invalidations_received{0}; // invalidations this cache handled
    // The fault path.
    std::atomic<std::uint64_t> read_faults{0};
    std::atomic<std::uint64_t> write_faults{0};
    std::atomic<std::uint64_t> void_pages{0};       // VOID (0xFF) pages installed for failed loads
    std::atomic<std::uint64_t> sigbus_raised{0};    // stores to unreachable memory
    std::atomic<std::uint64_t> fault_service_ns{0}; // time faults spent being resolved (handler or SIGBUS handler)
    // Page requests this node's home served (from other nodes), and the time from each one's
    // arrival to its reply (invalidation rounds included).
    std::atomic<std::uint64_t> home_requests{0};
    std::atomic<std::uint64_t> home_service_ns{0};
    // Thread hand-offs: work passed from one thread to another and waited for, on the data path
    // (faults, API reads, writes and allocations, home requests); not the cluster calls (names,
    // barriers), which run on the service thread too.
    std::atomic<std::uint64_t> handoffs{0};
    std::atomic<std::uint64_t> stale_grants{0};        // grants discarded because an invalidation crossed them
    std::atomic<std::uint64_t> held_invalidations{0};  // invalidations that waited for a copy's hold window
    std::atomic<std::uint64_t> stale_invalidations{0}; // invalidations older than the copy's grant, ignored
    std::atomic<std::uint64_t> readahead_pages{0};     // pages installed ahead of a sequential read fault
    // Where a scan's time goes at the requester: waiting for and receiving batches (the bytes
    // cross the socket, and their checksum is verified), and installing them in the window.
    std::atomic<std::uint64_t> readahead_batches{0};
    std::atomic<std::uint64_t> readahead_receive_ns{0};
    std::atomic<std::uint64_t> readahead_install_ns{0};
    // ...and at the home: assembling readahead batches and handing them to the socket.
    std::atomic<std::uint64_t> readahead_serve_ns{0};
    // Leases (runtime/lease.hpp): invalidations this home could not deliver and waited out until
    // the node was fenced; times this node dropped a home's copies because its lease lapsed;
    // replies that came too late to be trusted.
    std::atomic<std::uint64_t> fence_waits{0};
    std::atomic<std::uint64_t> lease_lapses{0};
    std::atomic<std::uint64_t> late_replies{0};
    // The failure detector: times a peer went silent for AETHER_SUSPECT_MS and was suspected.
    std::atomic<std::uint64_t> peers_suspected{0};
    transport_counters transport;

    void reset() noexcept {
        for (auto* c :
             {&cache_hits,          &cache_misses,    &remote_fetches,    &invalidations_sent,   &invalidations_received,
              &read_faults,         &write_faults,    &void_pages,        &sigbus_raised,        &fault_service_ns,
              &home_requests,       &home_service_ns, &handoffs,          &stale_grants,         &held_invalidations,
              &stale_invalidations, &readahead_pages, &readahead_batches, &readahead_receive_ns, &readahead_install_ns,
              &readahead_serve_ns,  &fence_waits,     &lease_lapses,      &late_replies,         &peers_suspected})
            c->store(0, std::memory_order_relaxed);
    }
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }

} // namespace aether
