// coordinator: node 0's services for the whole cluster: the name service (publish, lookup that
// may wait for a name) and barriers. They run on node 0's service thread and keep their state
// there; nothing here touches pages or the directory.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "transport/transport.hpp"
#include "transport/peers.hpp"
#include "transport/wire.hpp"

#include <cstdint>
#include <functional>
#include <map>
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
        std::function<bool(node_id)> is_passive; // in-process simulated nodes: never join barriers
    };
    coordinator(options opts, service_transport& transport)
        : opt_(std::move(opts)),
          transport_(transport) {}

    // Each answers through `reply`, now or later (a lookup waiting for its name, a barrier waiting
    // for every node), on the service thread.
    void publish(const std::string& name, std::uint64_t addr, const reply_fn& reply);
    void lookup(const std::string& name, std::uint32_t wait_ms, reply_fn reply);
    void barrier(node_id from, std::uint64_t seq, std::uint32_t wait_ms, reply_fn reply);

private:
    // A node that was up and now refuses connections will never arrive: fail the barrier at once
    // instead of letting every other node run into its deadline.
    void check_barrier_liveness();

    options opt_;
    service_transport& transport_;
    std::unordered_map<std::string, std::uint64_t> names_;
    struct parked_lookup {
        reply_fn reply;
        std::uint64_t timer;
        std::uint64_t id;
    };
    std::unordered_map<std::string, std::vector<parked_lookup>> lookups_;
    std::uint64_t next_lookup_id_ = 1;
    struct barrier_waiter {
        std::uint64_t id;
        std::uint64_t timer;
        reply_fn reply;
    };
    struct barrier_round {
        std::vector<bool> arrived;
        std::vector<barrier_waiter> waiters;
    };
    std::uint64_t next_waiter_id_ = 1;
    std::map<std::uint64_t, barrier_round> rounds_;
    std::uint64_t liveness_timer_ = 0;
};

} // namespace aether
