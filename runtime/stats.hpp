// Counters of one node, updated with relaxed atomics from any thread.
#pragma once
#include "aether/internal/guard.hpp"

#include "runtime/latency_histogram.hpp"
#include "transport/transport.hpp"

#include <atomic>
#include <cstdint>

namespace aether {

// How long things take on this node (runtime/latency_histogram.hpp): every fault by kind (VOID
// outcomes included: the time until the access went on), every API read and write, and every
// page request this node's home served (from its arrival to its reply).
struct node_latencies {
    latency_histogram fault_read_remote;  // a load of another node's page
    latency_histogram fault_write_remote; // a store to another node's page (an upgrade or a fetch)
    latency_histogram fault_local;        // a page this node homes
    latency_histogram api_read;           // seraph_aether_read and the like, whole call
    latency_histogram api_write;
    latency_histogram home_request;
    // AETHER_LATENCY_HISTOGRAMS=off stops the recording (to measure what it costs).
    std::atomic<bool> on{true};

    void record(latency_histogram& h, std::uint64_t ns) noexcept {
        if (on.load(std::memory_order_relaxed)) h.record(ns);
    }
    template <class Fn>
    void for_each(Fn fn) {
        fn("fault_read_remote", fault_read_remote);
        fn("fault_write_remote", fault_write_remote);
        fn("fault_local", fault_local);
        fn("api_read", api_read);
        fn("api_write", api_write);
        fn("home_request", home_request);
    }
};

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
    std::atomic<std::uint64_t> install_failures{0};    // copies UFFDIO_COPY refused (the access gets SIGBUS; a read, OOM)
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
    node_latencies latency;

    // Calls fn(name, counter) for every counter, the transport's prefixed "transport_": what
    // aetherctl stats shows (runtime/admin/report.cpp) and what reset() clears.
    template <class Fn>
    void for_each(Fn fn) {
        fn("cache_hits", cache_hits);
        fn("cache_misses", cache_misses);
        fn("remote_fetches", remote_fetches);
        fn("invalidations_sent", invalidations_sent);
        fn("invalidations_received", invalidations_received);
        fn("read_faults", read_faults);
        fn("write_faults", write_faults);
        fn("void_pages", void_pages);
        fn("sigbus_raised", sigbus_raised);
        fn("fault_service_ns", fault_service_ns);
        fn("home_requests", home_requests);
        fn("home_service_ns", home_service_ns);
        fn("handoffs", handoffs);
        fn("stale_grants", stale_grants);
        fn("held_invalidations", held_invalidations);
        fn("stale_invalidations", stale_invalidations);
        fn("install_failures", install_failures);
        fn("readahead_pages", readahead_pages);
        fn("readahead_batches", readahead_batches);
        fn("readahead_receive_ns", readahead_receive_ns);
        fn("readahead_install_ns", readahead_install_ns);
        fn("readahead_serve_ns", readahead_serve_ns);
        fn("fence_waits", fence_waits);
        fn("lease_lapses", lease_lapses);
        fn("late_replies", late_replies);
        fn("peers_suspected", peers_suspected);
        fn("transport_requests", transport.requests);
        fn("transport_connects", transport.connects);
        fn("transport_handshake_failures", transport.handshake_failures);
        fn("transport_bad_frames", transport.bad_frames);
        fn("transport_corrupt_payloads", transport.corrupt_payloads);
        fn("transport_timeouts", transport.timeouts);
    }

    void reset() noexcept {
        for_each([](const char*, std::atomic<std::uint64_t>& c) { c.store(0, std::memory_order_relaxed); });
        latency.for_each([](const char*, latency_histogram& h) { h.reset(); });
    }
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }

} // namespace aether
