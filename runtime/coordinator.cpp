// Node 0's name service and barriers (see coordinator.hpp).
#include "runtime/coordinator.hpp"

#include "aether/internal/log.hpp"

#include <algorithm>

namespace aether {

namespace {

constexpr std::uint64_t liveness_check_ns = 50'000'000;

} // namespace

void coordinator::publish(const std::string& name, std::uint64_t addr, const reply_fn& reply) {
    if (name.empty() || name.size() > 255) {
        reply(wire::message::failed(failure{fetch_status::remote_error, void_reason::none}));
        return;
    }
    names_[name] = addr;
    if (auto it = lookups_.find(name); it != lookups_.end()) {
        wire::message found;
        found.address = addr;
        for (auto& w : it->second) {
            transport_.exec().cancel_timer(w.timer);
            w.reply(found);
        }
        lookups_.erase(it);
    }
    reply(wire::message{});
}

void coordinator::lookup(const std::string& name, std::uint32_t wait_ms, reply_fn reply) {
    if (auto it = names_.find(name); it != names_.end()) {
        wire::message m;
        m.address = it->second;
        reply(m);
        return;
    }
    if (wait_ms == 0) {
        reply(wire::message::failed(failure{fetch_status::not_found, void_reason::timeout}));
        return;
    }
    std::uint64_t id = next_lookup_id_++;
    std::uint64_t timer = transport_.exec().add_timer(deadline::after(milliseconds(wait_ms)), [this, name, id] {
        auto it = lookups_.find(name);
        if (it == lookups_.end()) return;
        auto& v = it->second;
        for (auto w = v.begin(); w != v.end(); ++w)
            if (w->id == id) {
                w->reply(wire::message::failed(failure{fetch_status::not_found, void_reason::timeout}));
                v.erase(w);
                break;
            }
        if (v.empty()) lookups_.erase(it);
    });
    lookups_[name].push_back(parked_lookup{std::move(reply), timer, id});
}

void coordinator::barrier(node_id from, std::uint64_t seq, std::uint32_t wait_ms, reply_fn reply) {
    if (opt_.self != 0 || from >= opt_.node_count) {
        reply(wire::message::failed(failure{fetch_status::remote_error, void_reason::none})); // only node 0 coordinates
        return;
    }
    barrier_round& round = rounds_[seq];
    if (round.arrived.empty()) round.arrived.assign(opt_.node_count, false);
    round.arrived[from] = true;

    auto active = [this](node_id n) { return !opt_.is_passive || !opt_.is_passive(n); };
    bool all_arrived = true;
    for (node_id n = 0; n < opt_.node_count; ++n)
        if (active(n) && !round.arrived[n]) all_arrived = false;
    if (all_arrived) {
        // Those who waited first (often remote): the last one to arrive may be this node's own
        // thread, which must not race ahead of the replies still to be sent.
        for (auto& w : round.waiters) {
            transport_.exec().cancel_timer(w.timer);
            w.reply(wire::message{});
        }
        transport_.flush(); // the replies reach the kernel before this node's own thread moves on
        reply(wire::message{});
        rounds_.erase(seq);
        return;
    }
    // Each waiter gives up at its own deadline (VOID, TIMEOUT); the others keep waiting.
    std::uint64_t id = next_waiter_id_++;
    std::uint64_t timer =
        transport_.exec().add_timer(deadline::after(milliseconds(std::max<std::uint32_t>(wait_ms, 1))), [this, seq, id] {
            auto it = rounds_.find(seq);
            if (it == rounds_.end()) return;
            auto& ws = it->second.waiters;
            for (auto w = ws.begin(); w != ws.end(); ++w)
                if (w->id == id) {
                    w->reply(wire::message::failed(failure::of(void_reason::timeout)));
                    ws.erase(w);
                    break;
                }
            if (ws.empty()) rounds_.erase(it);
        });
    round.waiters.push_back(barrier_waiter{id, timer, std::move(reply)});
    if (liveness_timer_ == 0)
        liveness_timer_ =
            transport_.exec().add_timer(deadline::after_ns(liveness_check_ns), [this] { check_barrier_liveness(); });
}

void coordinator::check_barrier_liveness() {
    liveness_timer_ = 0;
    if (rounds_.empty()) return;
    // A node that was up and now refuses connections will never arrive: fail the barrier at once
    // instead of letting every other node run into its deadline.
    std::vector<node_id> missing;
    for (node_id n = 0; n < opt_.node_count; ++n) {
        if (n == opt_.self || (opt_.is_passive && opt_.is_passive(n)) || !opt_.peers->ever_alive(n)) continue;
        for (auto& [seq, round] : rounds_)
            if (!round.arrived[n]) {
                missing.push_back(n);
                break;
            }
    }
    for (node_id n : missing) {
        transport_.call(
            n, wire::message{.type = wire::msg::ping}, deadline::after(milliseconds(1000)), [this, n](result<wire::message> r) {
                // A node that is only silent (stopped, or its packets vanish: its timeouts read
                // PARTITION, peer_table::timeout_reason) may still arrive; the barrier waits for it
                // until its deadline. One refused, reset or without a route will not.
                const bool gone = !r.ok() && (r.error().reason == void_reason::node_crashed ||
                                              (r.error().reason == void_reason::partition && !opt_.peers->is_silent(n)));
                if (!gone) return;
                if (rounds_.empty()) return; // another probe already failed the barrier
                log::runtime().warn("barrier: node {} is down ({}); failing the barrier", n, to_string(r.error().reason));
                for (auto& [seq, round] : rounds_)
                    for (auto& w : round.waiters) {
                        transport_.exec().cancel_timer(w.timer);
                        w.reply(wire::message::failed(r.error()));
                    }
                rounds_.clear();
            });
    }
    liveness_timer_ = transport_.exec().add_timer(deadline::after_ns(liveness_check_ns), [this] { check_barrier_liveness(); });
}

} // namespace aether
