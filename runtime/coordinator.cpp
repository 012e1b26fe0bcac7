// The cluster's names and barriers, replicated on every node (see coordinator.hpp).
#include "runtime/coordinator.hpp"

#include "aether/internal/log.hpp"

#include <algorithm>

namespace aether {

namespace {

constexpr std::uint64_t liveness_check_ns = 50'000'000;
constexpr std::uint64_t probe_ms = 1000;

wire::message refused() { return wire::message::failed(failure{fetch_status::remote_error, void_reason::none}); }
wire::message not_found() { return wire::message::failed(failure{fetch_status::not_found, void_reason::timeout}); }

wire::message found(std::uint64_t addr, std::uint64_t version) {
    wire::message m;
    m.address = addr;
    m.arg0 = version;
    return m;
}

bool valid_name(const std::string& name) { return !name.empty() && name.size() <= 255; }

std::span<const std::byte> bytes_of(const std::string& s) { return {reinterpret_cast<const std::byte*>(s.data()), s.size()}; }

// What one node's answer to a fan-out request was: the reply, a refusal from the node (it answered),
// or no answer (the path or the node failed).
enum class answer_kind { reply, refusal, none };

answer_kind kind_of(const result<wire::message>& r) {
    if (r.ok()) return r.value().ok() ? answer_kind::reply : answer_kind::refusal;
    return r.error().status == fetch_status::not_found || r.error().status == fetch_status::remote_error ? answer_kind::refusal
                                                                                                         : answer_kind::none;
}

} // namespace

coordinator::coordinator(options opts, service_transport& transport)
    : opt_(std::move(opts)),
      transport_(transport),
      removed_(opt_.node_count, false),
      gone_(opt_.node_count, false),
      probing_(opt_.node_count, false) {}

node_id coordinator::cluster_size() const {
    node_id n = 0;
    for (node_id i = 0; i < opt_.node_count; ++i)
        if (i == opt_.self || opt_.peers->configured(i)) ++n;
    return n;
}

bool coordinator::member(node_id n) const {
    return n < opt_.node_count && !removed_[n] && !(opt_.is_passive && opt_.is_passive(n));
}

std::uint64_t coordinator::next_version() noexcept { return (++clock_ << 16) | opt_.self; }

deadline coordinator::request_deadline() const noexcept {
    const std::uint32_t ms =
        opt_.timeout_ms != nullptr ? opt_.timeout_ms->load(std::memory_order_relaxed) : SERAPH_AETHER_TIMEOUT_MS;
    return deadline::after(milliseconds(ms));
}

// ---- names ------------------------------------------------------------------------------------------

void coordinator::store(const std::string& name, std::uint64_t addr, std::uint64_t version) {
    clock_ = std::max(clock_, version >> 16);
    name_entry& e = names_[name];
    if (version > e.version) e = name_entry{addr, version};
    if (auto it = queries_.find(name); it != queries_.end()) {
        for (auto& q : it->second) {
            transport_.exec().cancel_timer(q.timer);
            q.reply(found(e.addr, e.version));
        }
        queries_.erase(it);
    }
}

void coordinator::store_replica(const std::string& name, std::uint64_t addr, std::uint64_t version, const reply_fn& reply) {
    if (!valid_name(name) || version == 0) {
        reply(refused());
        return;
    }
    store(name, addr, version);
    reply(wire::message{});
}

void coordinator::query_replica(const std::string& name, std::uint32_t wait_ms, reply_fn reply) {
    if (auto it = names_.find(name); it != names_.end()) {
        reply(found(it->second.addr, it->second.version));
        return;
    }
    if (wait_ms == 0) {
        reply(not_found());
        return;
    }
    std::uint64_t id = next_query_id_++;
    std::uint64_t timer = transport_.exec().add_timer(deadline::after(milliseconds(wait_ms)), [this, name, id] {
        auto it = queries_.find(name);
        if (it == queries_.end()) return;
        auto& v = it->second;
        for (auto q = v.begin(); q != v.end(); ++q)
            if (q->id == id) {
                q->reply(not_found());
                v.erase(q);
                break;
            }
        if (v.empty()) queries_.erase(it);
    });
    queries_[name].push_back(parked_query{std::move(reply), timer, id});
}

void coordinator::publish(const std::string& name, std::uint64_t addr, reply_fn reply) {
    if (!valid_name(name)) {
        reply(refused());
        return;
    }
    const std::uint64_t version = next_version();
    store(name, addr, version);
    struct tally {
        node_id stored = 1; // here
        node_id failed = 0;
        bool done = false;
        failure last = failure::of(void_reason::timeout);
        reply_fn reply;
    };
    auto t = std::make_shared<tally>();
    t->reply = std::move(reply);
    const node_id need = majority();
    const node_id may_fail = static_cast<node_id>(cluster_size() - need);
    auto settle = [t, need, may_fail] {
        if (t->done) return;
        if (t->stored >= need) {
            t->done = true;
            t->reply(wire::message{});
        } else if (t->failed > may_fail) {
            t->done = true;
            t->reply(wire::message::failed(t->last));
        }
    };
    settle();
    const deadline dl = request_deadline();
    for (node_id n = 0; n < opt_.node_count; ++n) {
        if (n == opt_.self || !opt_.peers->configured(n)) continue;
        transport_.call(n, wire::message{.type = wire::msg::publish, .address = addr, .arg0 = version, .payload = bytes_of(name)},
                        dl, [t, settle](result<wire::message> r) {
                            if (kind_of(r) == answer_kind::reply) {
                                ++t->stored;
                            } else {
                                ++t->failed;
                                if (!r.ok()) t->last = r.error();
                            }
                            settle();
                        });
    }
}

void coordinator::lookup(const std::string& name, std::uint32_t wait_ms, reply_fn reply) {
    if (!valid_name(name)) {
        reply(not_found());
        return;
    }
    // First every node is asked what it holds now; a majority's answers hold every completed
    // publish. If none of them has the name, every node is asked to answer when it arrives.
    struct search {
        node_id answered = 1; // here
        node_id failed = 0;
        node_id waiting = 0; // second round: asked to wait, not answered yet
        bool done = false;
        bool parked = false;
        name_entry best;
        failure last = failure::of(void_reason::timeout);
        reply_fn reply;
    };
    auto s = std::make_shared<search>();
    s->reply = std::move(reply);
    if (auto it = names_.find(name); it != names_.end()) s->best = it->second;
    const node_id need = majority();
    const node_id may_fail = static_cast<node_id>(cluster_size() - need);
    const deadline until = deadline::after(milliseconds(wait_ms));
    auto finish = [s](const wire::message& m) {
        if (s->done) return;
        s->done = true;
        s->reply(m);
    };
    auto park_everywhere = [this, s, name, until, finish] {
        s->parked = true;
        const std::uint32_t left = static_cast<std::uint32_t>(until.remaining_ns() / 1'000'000);
        auto on_answer = [s, finish](const wire::message& m) {
            if (s->done) return;
            if (m.ok()) {
                finish(m);
            } else if (--s->waiting == 0) {
                finish(not_found());
            }
        };
        for (node_id n = 0; n < opt_.node_count; ++n)
            if (n == opt_.self || opt_.peers->configured(n)) ++s->waiting;
        query_replica(name, left, on_answer);
        for (node_id n = 0; n < opt_.node_count; ++n) {
            if (n == opt_.self || !opt_.peers->configured(n)) continue;
            transport_.call(n, wire::message{.type = wire::msg::lookup, .arg0 = left, .payload = bytes_of(name)},
                            deadline::after_ns(until.remaining_ns() + 500'000'000), [on_answer](result<wire::message> r) {
                                on_answer(r.ok() ? r.value() : wire::message::failed(r.error()));
                            });
        }
    };
    auto settle = [s, need, may_fail, wait_ms, finish, park_everywhere] {
        if (s->done || s->parked) return;
        if (s->answered >= need) {
            if (s->best.version != 0)
                finish(found(s->best.addr, s->best.version));
            else if (wait_ms == 0)
                finish(not_found());
            else
                park_everywhere();
        } else if (s->failed > may_fail) {
            finish(wire::message::failed(s->last));
        }
    };
    settle();
    const deadline dl = request_deadline();
    for (node_id n = 0; n < opt_.node_count; ++n) {
        if (n == opt_.self || !opt_.peers->configured(n)) continue;
        transport_.call(n, wire::message{.type = wire::msg::lookup, .arg0 = 0, .payload = bytes_of(name)}, dl,
                        [s, settle](result<wire::message> r) {
                            if (s->parked) return;
                            switch (kind_of(r)) {
                            case answer_kind::reply:
                                ++s->answered;
                                if (r.value().arg0 > s->best.version) s->best = name_entry{r.value().address, r.value().arg0};
                                break;
                            case answer_kind::refusal: ++s->answered; break;
                            case answer_kind::none:
                                ++s->failed;
                                s->last = r.error();
                                break;
                            }
                            settle();
                        });
    }
}

// ---- barriers ---------------------------------------------------------------------------------------

coordinator::barrier_round& coordinator::round_for(std::uint64_t seq) {
    barrier_round& r = rounds_[seq];
    if (r.arrived.empty()) {
        r.arrived.assign(opt_.node_count, false);
        r.told.assign(opt_.node_count, false);
        r.telling.assign(opt_.node_count, false);
    }
    return r;
}

void coordinator::barrier(std::uint64_t seq, std::uint32_t wait_ms, reply_fn reply) {
    if (seq <= finished_seq_) {
        reply(refused());
        return;
    }
    barrier_round& r = round_for(seq);
    r.arrived[opt_.self] = true;
    r.waiter = std::move(reply);
    // This node gives up at its own deadline (VOID, TIMEOUT); the others keep waiting.
    r.timer = transport_.exec().add_timer(deadline::after(milliseconds(std::max<std::uint32_t>(wait_ms, 1))),
                                          [this, seq] { finish(seq, wire::message::failed(failure::of(void_reason::timeout))); });
    tell_arrival(seq);
    settle(seq);
    if (liveness_timer_ == 0 && !rounds_.empty())
        liveness_timer_ =
            transport_.exec().add_timer(deadline::after_ns(liveness_check_ns), [this] { check_barrier_liveness(); });
}

void coordinator::note_arrival(node_id from, std::uint64_t seq, const reply_fn& reply) {
    reply(wire::message{});
    if (from >= opt_.node_count || seq <= finished_seq_) return; // a round already over here
    round_for(seq).arrived[from] = true;
    settle(seq);
}

void coordinator::tell_arrival(std::uint64_t seq) {
    auto it = rounds_.find(seq);
    if (it == rounds_.end()) return;
    barrier_round& r = it->second;
    const deadline dl = std::min(request_deadline(), deadline::after(milliseconds(probe_ms)));
    for (node_id n = 0; n < opt_.node_count; ++n) {
        if (n == opt_.self || !member(n) || r.told[n] || r.telling[n]) continue;
        r.telling[n] = true;
        transport_.call(n, wire::message{.type = wire::msg::barrier, .arg0 = seq}, dl, [this, seq, n](result<wire::message> a) {
            auto found_round = rounds_.find(seq);
            if (found_round == rounds_.end()) return;
            found_round->second.telling[n] = false;
            if (kind_of(a) == answer_kind::reply) found_round->second.told[n] = true;
            settle(seq); // told again on the next liveness check if this failed
        });
    }
}

void coordinator::settle(std::uint64_t seq) {
    auto it = rounds_.find(seq);
    if (it == rounds_.end() || !it->second.waiter) return; // this node has not arrived yet
    const barrier_round& r = it->second;
    bool complete = true;
    std::vector<node_id> dead;
    for (node_id n = 0; n < opt_.node_count; ++n) {
        if (n == opt_.self || !member(n)) continue;
        const bool dead_now = gone_[n] || opt_.peers->is_down(n);
        // A member that arrived and then died is through: it does not need to hear of this
        // node's arrival any more. (It may have completed and exited before this node saw its
        // acknowledgement: a node stopped across the round took it for timed out.)
        const bool through = r.arrived[n] && (r.told[n] || dead_now);
        if (through) continue;
        if (dead_now)
            dead.push_back(n);
        else
            complete = false;
    }
    if (!dead.empty()) {
        // A barrier over all nodes cannot complete: it fails, for every node that finds the death.
        // With a majority of all nodes still alive, the dead ones stop being members, so the next
        // barriers complete without them.
        node_id alive = 0;
        for (node_id n = 0; n < opt_.node_count; ++n)
            if (!removed_[n] && std::find(dead.begin(), dead.end(), n) == dead.end() &&
                (n == opt_.self || opt_.peers->configured(n)))
                ++alive;
        const bool majority_left = alive >= majority();
        for (node_id n : dead) {
            log::runtime().warn("barrier: node {} is down; failing the barrier{}", n,
                                majority_left ? ", and the next ones go on without it" : " (no majority left)");
            if (majority_left) removed_[n] = true;
        }
        finish(seq, wire::message::failed(failure::of(void_reason::node_crashed)));
        return;
    }
    if (complete) finish(seq, wire::message{});
}

void coordinator::finish(std::uint64_t seq, const wire::message& outcome) {
    auto it = rounds_.find(seq);
    if (it == rounds_.end() || !it->second.waiter) return;
    transport_.exec().cancel_timer(it->second.timer);
    reply_fn waiter = std::move(it->second.waiter);
    finished_seq_ = std::max(finished_seq_, seq);
    rounds_.erase(rounds_.begin(), rounds_.upper_bound(seq));
    transport_.flush(); // what this node sent reaches the kernel before its own thread moves on
    waiter(outcome);
}

void coordinator::check_barrier_liveness() {
    liveness_timer_ = 0;
    bool waiting = false;
    for (auto& [seq, round] : rounds_) {
        if (!round.waiter) continue;
        waiting = true;
        tell_arrival(seq);
        // A member that was up and now refuses connections will never arrive: fail the barrier at
        // once instead of letting every other node run into its deadline. One that is only silent
        // (stopped, or its packets vanish: its timeouts read PARTITION, runtime/void_reasons.hpp)
        // may still arrive; the barrier waits for it until its deadline.
        for (node_id n = 0; n < opt_.node_count; ++n) {
            if (n == opt_.self || !member(n) || (round.arrived[n] && round.told[n]) || probing_[n] || !opt_.peers->ever_alive(n))
                continue;
            probing_[n] = true;
            transport_.call(n, wire::message{.type = wire::msg::ping}, deadline::after(milliseconds(probe_ms)),
                            [this, n](result<wire::message> r) {
                                probing_[n] = false;
                                gone_[n] = !r.ok() && (r.error().reason == void_reason::node_crashed ||
                                                       (r.error().reason == void_reason::partition && !opt_.peers->is_silent(n)));
                                if (!gone_[n]) return;
                                std::vector<std::uint64_t> waiting_rounds;
                                for (auto& [s, rd] : rounds_)
                                    if (rd.waiter) waiting_rounds.push_back(s);
                                for (std::uint64_t s : waiting_rounds) settle(s);
                            });
        }
    }
    if (waiting)
        liveness_timer_ =
            transport_.exec().add_timer(deadline::after_ns(liveness_check_ns), [this] { check_barrier_liveness(); });
}

} // namespace aether
