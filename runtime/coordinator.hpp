// coordinator: this node's share of the cluster's name service and barriers. Every node runs one;
// none is special, so both keep working while a majority of the nodes lives, whichever died
// (node 0 included). It runs on the node's service thread and keeps its state there; nothing here
// touches pages or the directory. The rules (docs/api.md, "Cluster calls"):
//
// - Names are replicated on every node. A publish stores the name on every node it reaches and
//   succeeds once a majority of all nodes has stored it. A lookup asks every node and answers
//   once a majority has answered, with the newest value any of them holds; any two majorities
//   share a node, so a lookup that follows a completed publish sees it. A lookup of a name not
//   published yet waits, at every node, for it to arrive. Versions are Lamport clocks (counter,
//   node id): a name published again after a lookup saw it gets a newer version.
// - A barrier has no coordinator: a node arriving tells every other member, and leaves once every
//   member has arrived and has heard of its own arrival. A member found dead (it answered before
//   and now refuses) fails the barrier in progress with NODE_CRASHED, as a barrier over all nodes
//   must; if the members still alive are a majority of all nodes, the dead one stops being a
//   member and the next barriers complete without it. Without a majority, barriers keep failing.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"
#include "transport/wire.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace aether {

class coordinator {
public:
    using reply_fn = std::function<void(const wire::message&)>;
    struct options {
        node_id self = 0;
        node_id node_count = 1;
        peer_table* peers = nullptr;
        std::function<bool(node_id)> is_passive;                // in-process simulated nodes: never join barriers
        const std::atomic<std::uint32_t>* timeout_ms = nullptr; // deadline of one request to another node
    };
    coordinator(options opts, service_transport& transport);

    // This node's program: each answers through `reply`, now or later, on the service thread.
    void publish(const std::string& name, std::uint64_t addr, reply_fn reply);
    void lookup(const std::string& name, std::uint32_t wait_ms, reply_fn reply);
    void barrier(std::uint64_t seq, std::uint32_t wait_ms, reply_fn reply);

    // Other nodes' requests (wire::msg::publish, lookup, barrier).
    void store_replica(const std::string& name, std::uint64_t addr, std::uint64_t version, const reply_fn& reply);
    void query_replica(const std::string& name, std::uint32_t wait_ms, reply_fn reply);
    void note_arrival(node_id from, std::uint64_t seq, const reply_fn& reply);

    // The nodes the cluster has (those with an address: in a cluster inside one process, this
    // node and the simulated ones), and how many of them make a majority.
    [[nodiscard]] node_id cluster_size() const;
    [[nodiscard]] node_id majority() const { return static_cast<node_id>(cluster_size() / 2 + 1); }

private:
    struct name_entry {
        std::uint64_t addr = 0;
        std::uint64_t version = 0; // counter << 16 | node id; 0: none
    };
    struct parked_query {
        reply_fn reply;
        std::uint64_t timer;
        std::uint64_t id;
    };
    struct barrier_round {
        std::vector<bool> arrived; // who arrived, as far as this node heard
        std::vector<bool> told;    // who acknowledged this node's arrival
        std::vector<bool> telling; // whose acknowledgement is awaited
        reply_fn waiter;           // this node's program, once it arrived
        std::uint64_t timer = 0;
    };

    [[nodiscard]] bool member(node_id n) const;
    barrier_round& round_for(std::uint64_t seq);
    std::uint64_t next_version() noexcept;
    [[nodiscard]] deadline request_deadline() const noexcept;
    // Keeps the newer of what is stored and (addr, version); answers parked queries.
    void store(const std::string& name, std::uint64_t addr, std::uint64_t version);
    // Sends this node's arrival to every member that has not acknowledged it yet.
    void tell_arrival(std::uint64_t seq);
    // Completes, fails or leaves the round as it stands.
    void settle(std::uint64_t seq);
    void finish(std::uint64_t seq, const wire::message& outcome);
    // Every 50 ms while this node waits at a barrier: arrivals are sent again, and missing members
    // that answered before are probed (a refusal means the process is gone).
    void check_barrier_liveness();

    options opt_;
    service_transport& transport_;
    std::unordered_map<std::string, name_entry> names_;
    std::uint64_t clock_ = 0; // the highest name counter seen
    std::unordered_map<std::string, std::vector<parked_query>> queries_;
    std::uint64_t next_query_id_ = 1;
    std::map<std::uint64_t, barrier_round> rounds_;
    std::uint64_t finished_seq_ = 0; // rounds up to this one are over here: late arrivals are ignored
    std::vector<bool> removed_;      // found dead with a majority left: no longer a member
    std::vector<bool> gone_;         // found dead by a probe, not yet removed
    std::vector<bool> probing_;      // a liveness probe is under way
    std::uint64_t liveness_timer_ = 0;
};

} // namespace aether
