// The home service around the directory (runtime/directory.hpp): per-page serialization,
// invalidation rounds, page bytes, allocations; and the dispatch of requests to it, to the cache's
// invalidation handler and to node 0's coordinator (runtime/coordinator.hpp).
#include "runtime/node.hpp"

#include "aether/internal/log.hpp"
#include "aether/internal/sync.hpp"
#include "runtime/cache.hpp"
#include "runtime/directory.hpp"
#include "runtime/void_reasons.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <future>

namespace aether {

namespace {

// The bytes of a page whose home memory was never written: a source for installing such pages
// without reading (and so faulting in) the untouched home memory.
alignas(4096) std::byte zero_pages[cache::max_run * page_size];

using directory::freed_memory;
using directory::lost_page;
using directory::never_allocated;

} // namespace

// An invalidation round in progress for one page.
struct node::transaction {
    home_request request;
    std::uint32_t index = 0;
    std::size_t pending = 0;
    std::optional<failure> failure_;
    bool requester_was_sharer = false;
    // The request was answered (VOID, at its deadline) while an owner's answer was still awaited:
    // the round goes on without it, and grants nothing when it ends.
    bool answered = false;
};

namespace {

// How long a home waits for the exclusive owner's answer to a recall after the request itself
// gave up. The owner, once it has the recall, gives up its copy and sends the only current
// bytes; a home that dropped that answer because it came late (a recall held back in TCP
// retransmission, delivered after a cut healed) lost them, and the owner's next load read the
// home's old bytes (tests/hosts/late_recall.c). So the entry stays busy (later requests queue)
// until the answer comes, the connection fails, or this long has passed.
std::uint64_t owner_answer_wait_ns(std::uint32_t timeout_ms) noexcept {
    return std::max<std::uint64_t>(60'000, std::uint64_t{timeout_ms} * 10) * 1'000'000;
}

} // namespace

// What a requester asks of this node's memory as its home: what an injected refusal (PERMISSION /
// GENERATION) applies to. Not the invalidations this node's cache receives, nor coordination.
bool node::asks_of_home(wire::msg m) noexcept {
    switch (m) {
    case wire::msg::read_shared:
    case wire::msg::read_exclusive:
    case wire::msg::write_bytes:
    case wire::msg::fetch_add:
    case wire::msg::compare_swap:
    case wire::msg::putback:
    case wire::msg::free:
    case wire::msg::revoke:
    case wire::msg::alloc:
    case wire::msg::get_generation:
    case wire::msg::get_global_gen: return true;
    default: return false;
    }
}

node::node(options opts)
    : opt_(std::move(opts)),
      home_(nullptr),
      transport_(
          with_void_reasons(open_service(*opt_.transport,
                                         transport_setup{opt_.identity, opt_.peers, opt_.injector, &opt_.counters->transport,
                                                         opt_.name, opt_.poll_ns, opt_.priority},
                                         *this),
                            *opt_.peers)),
      refusal_(new std::atomic<std::uint8_t>[opt_.node_count]),
      fences_(opt_.node_count, opt_.lease),
      coordinator_(coordinator::options{opt_.self, opt_.node_count, opt_.peers, opt_.is_passive, opt_.timeout_ms}, *transport_),
      invalidations_(invalidation_service::options{opt_.local_cache, opt_.hold_ns, opt_.counters}, *transport_) {
    for (node_id n = 0; n < opt_.node_count; ++n) refusal_[n].store(0, std::memory_order_relaxed);
    stores_.push_back(std::make_unique<home_store>(opt_.self, opt_.node_count, opt_.home_bytes));
    home_.store(stores_.back().get(), std::memory_order_release);
}

setup_result<std::unique_ptr<node>> node::start(options opts, const listen_endpoint& listen_on) {
    std::unique_ptr<node> n(new node(std::move(opts)));
    auto port = n->transport_->start(listen_on);
    if (!port) return port.error();
    return n;
}

node::~node() { transport_->stop(); }

deadline node::home_deadline() const noexcept {
    // A little shorter than the requester's own deadline, so that the requester learns the
    // precise reason from the home instead of running into its own timeout.
    return deadline::after(milliseconds(std::max<std::uint32_t>(timeout_ms() * 3 / 4, 1)));
}

void node::set_online(bool online) {
    online_.store(online, std::memory_order_relaxed);
    transport_->set_online(online);
}

void node::set_refusal(node_id from, void_reason r) noexcept {
    if (from < opt_.node_count) refusal_[from].store(static_cast<std::uint8_t>(r), std::memory_order_relaxed);
}

// ---- the page protocol ----------------------------------------------------------------------------

void node::apply_ack(std::uint32_t index, home_page& p, const target& t, const directory::answer& a, bool discard,
                     std::span<const std::byte> data, std::optional<failure>& txn_failure) {
    const auto effect = directory::on_answer(p, home().sharers(index), t, a, discard);
    if (effect.take_page) std::memcpy(home().bytes(index), data.data(), page_size);
    if (effect.fails_with && !txn_failure) txn_failure = effect.fails_with;
}

void node::invalidate_self(std::uint32_t index, home_page& p, const target& t, std::uint32_t epoch, bool discard,
                           std::optional<failure>& txn_failure) {
    alignas(64) std::byte buf[page_size];
    // (Never stale: the round's epoch is taken under the entry's lock, which this runs under.)
    const bool had_data =
        opt_.local_cache != nullptr && opt_.local_cache->invalidate(make_addr(opt_.self, std::uint64_t{index} * page_size), epoch,
                                                                    t.downgrade, buf) == cache::invalidation::sent_bytes;
    apply_ack(index, p, t, directory::answer{.ok = true, .carries_page = had_data}, discard,
              std::span<const std::byte>(buf, page_size), txn_failure);
}

void node::finish(home_request& r, home_page& p, std::uint32_t index, bool requester_was_sharer) {
    sharer_set s = home().sharers(index);
    std::byte* bytes = home().bytes(index);
    const std::size_t off = r.address & (page_size - 1);
    wire::message o;
    switch (r.op) {
    case wire::msg::read_shared: {
        const auto g = directory::share(p, s, r.requester);
        o.epoch = g.epoch;
        o.arg0 = g.generation;
        o.payload = std::span<const std::byte>(bytes, page_size);
        if ((r.flags & wire::flag::readahead) != 0 && r.arg1 > 0 && r.requester != opt_.self && exec().in_loop_thread()) {
            grant_following(r, index, o);
        }
        break;
    }
    case wire::msg::read_exclusive: {
        const auto g = directory::make_exclusive(p, s, r.requester, requester_was_sharer, (r.flags & wire::flag::need_data) != 0);
        o.epoch = g.epoch;
        o.arg0 = g.generation;
        if (g.requester_is_sharer) o.flags = wire::flag::is_sharer; // its copy is current: no need to send the bytes
        if (g.send_page) o.payload = std::span<const std::byte>(bytes, page_size);
        break;
    }
    case wire::msg::write_bytes:
        std::memcpy(bytes + off, r.data.data(), r.data.size());
        o.arg0 = directory::record_write(p).generation;
        break;
    case wire::msg::fetch_add: {
        std::uint64_t old;
        std::memcpy(&old, bytes + off, 8);
        std::uint64_t now = old + r.arg0;
        std::memcpy(bytes + off, &now, 8);
        directory::record_write(p);
        o.arg0 = old;
        break;
    }
    case wire::msg::compare_swap: {
        std::uint64_t old;
        std::memcpy(&old, bytes + off, 8);
        if (old == r.arg0) {
            std::memcpy(bytes + off, &r.arg1, 8);
            directory::record_write(p);
            o.arg1 = 1;
        }
        o.arg0 = old;
        break;
    }
    case wire::msg::putback:
        if (r.data.size() == page_size) {
            if (auto g = directory::accept_putback(p, s, r.requester)) {
                std::memcpy(bytes, r.data.data(), page_size);
                o.epoch = g->epoch;
                o.arg1 = 1; // applied
            }
        }
        o.arg0 = p.generation;
        break;
    case wire::msg::free:
    case wire::msg::revoke:
    case wire::msg::invalidate:
        o.arg0 = directory::drop_all(p, s, r.op, r.op == wire::msg::invalidate ? r.arg0 : 0).generation;
        break;
    default: break;
    }
    r.done(o);
}

// The reply's pages are not copied out: the run of pages is contiguous in the home's memory and
// goes to the socket from there. They cannot change before it has: the requester is now recorded
// as a sharer of every one of them, so any change must first invalidate its copy, which takes an
// invalidation round on this service thread; and the reply is handed to the socket (or, what the
// socket does not take at once, copied into the connection's queue) on this thread, before it
// returns to its loop.
void node::grant_following(const home_request& r, std::uint32_t index, wire::message& o) {
    const std::size_t wanted = std::min<std::uint64_t>(r.arg1, wire::max_readahead);
    std::size_t k = 0;
    // Page locks are taken in ascending order only, and the caller holds the lowest: no deadlock.
    for (; k < wanted; ++k) {
        const std::uint32_t j = index + 1 + static_cast<std::uint32_t>(k);
        if (!home().valid_page(j)) break;
        home_page& p = home().page(j);
        spin_guard g(p.lock);
        // Only what a plain read_shared would grant inline without any other node: an allocated
        // page nobody holds exclusive, with no round in flight. Anything else ends the run (the
        // requester's own fault on it takes the ordinary path).
        if (!directory::shareable_ahead(p)) break;
        const auto granted = directory::share(p, home().sharers(j), r.requester);
        grants_out_[k] = wire::readahead_grant{.epoch = granted.epoch, .reserved = 0, .generation = granted.generation};
    }
    o.payload = {home().bytes(index), (1 + k) * page_size};
    o.payload_tail = std::as_bytes(std::span<const wire::readahead_grant>(grants_out_.data(), k));
    o.arg1 = k;
}

std::optional<failure> node::admit(const home_request& r, home_page& p, std::uint32_t index) {
    // The recorded owner asking for its page again may have given that copy's bytes away in an
    // answer this home never got: then there are no current bytes left to grant.
    if (r.op == wire::msg::read_shared || r.op == wire::msg::read_exclusive)
        directory::owner_gave_up(p, home().sharers(index), r.requester, r.arg0);
    return directory::admit(r.op, p);
}

bool node::try_serve_inline(home_request& r) {
    std::uint32_t index = page_index_of(r.address);
    home_page& p = home().page(index);
    spin_guard g(p.lock);
    if (p.busy) return false;
    if (auto f = admit(r, p, index)) {
        r.done(wire::message::failed(*f));
        return true;
    }
    auto targets = directory::targets(r.op, r.requester, p, home().sharers(index));
    for (auto& t : targets)
        if (t.node != opt_.self) return false; // another node must act: the service thread runs it
    serve_here(r, p, index, targets);
    return true;
}

void node::serve_here(home_request& r, home_page& p, std::uint32_t index, const target_list& targets) {
    bool was_sharer = home().sharers(index).has(r.requester); // before its own copy is invalidated
    std::optional<failure> f;
    if (!targets.empty()) {
        std::uint32_t epoch = ++p.epoch;
        for (auto& t : targets) invalidate_self(index, p, t, epoch, directory::discards_owner_data(r.op), f);
    }
    if (f)
        r.done(wire::message::failed(*f));
    else
        finish(r, p, index, was_sharer);
}

void node::serve(home_request r) {
    const std::uint32_t index = page_index_of(r.address);
    home_page& p = home().page(index);
    std::shared_ptr<transaction> t; // only when other nodes must act first
    target_list remote;
    std::uint32_t epoch = 0;
    node_id owner = no_node; // the exclusive owner before the round: its answer may carry the only current bytes
    {
        spin_guard g(p.lock);
        if (p.busy) {
            auto& queue = waiting_[index];
            queue.push_back(std::move(r));
            p.queued = static_cast<std::uint16_t>(std::min<std::size_t>(queue.size(), UINT16_MAX));
            return;
        }
        if (auto f = admit(r, p, index)) {
            r.done(wire::message::failed(*f));
            return;
        }
        auto targets = directory::targets(r.op, r.requester, p, home().sharers(index));
        for (auto& tg : targets)
            if (tg.node != opt_.self) remote.push_back(tg);
        if (remote.empty()) {
            serve_here(r, p, index, targets);
            return;
        }
        bool was_sharer = home().sharers(index).has(r.requester);
        if (p.state == dir_state::exclusive) owner = p.owner;
        std::optional<failure> f;
        epoch = ++p.epoch;
        // This node's own copy goes at once; the others are asked below, outside the lock.
        for (auto& tg : targets)
            if (tg.node == opt_.self) invalidate_self(index, p, tg, epoch, directory::discards_owner_data(r.op), f);
        p.busy = 1;
        t = std::make_shared<transaction>();
        t->request = std::move(r);
        t->index = index;
        t->pending = remote.size();
        t->failure_ = f;
        t->requester_was_sharer = was_sharer;
    }
    const std::uint64_t page = make_addr(opt_.self, std::uint64_t{index} * page_size);
    const deadline dl = home_deadline();
    bool awaits_owner = false;
    for (const target& tg : remote) {
        bump(opt_.counters->invalidations_sent);
        wire::message m{.type = wire::msg::invalidate,
                        .flags = static_cast<std::uint16_t>(tg.downgrade ? wire::flag::downgrade : 0),
                        .address = page,
                        .epoch = epoch};
        const bool owner_bytes = tg.node == owner && !directory::discards_owner_data(t->request.op);
        awaits_owner = awaits_owner || owner_bytes;
        const deadline call_dl = owner_bytes ? deadline::after_ns(owner_answer_wait_ns(timeout_ms())) : dl;
        transport_->call(tg.node, m, call_dl, [this, t, tg, dl](result<wire::message> res) {
            if (res.ok())
                apply_answer(
                    t, tg, directory::answer{.ok = true, .carries_page = res->payload.size() == page_size, .given_up = res->arg0},
                    res->payload);
            else
                target_failed(t, tg, res.error(), dl);
        });
    }
    if (awaits_owner) exec().add_timer(dl, [this, t, owner] { answer_early(t, owner); });
}

void node::answer_early(const std::shared_ptr<transaction>& t, node_id owner) {
    if (t->pending == 0 || t->answered) return; // complete() ran
    t->answered = true;
    // What the requester would have heard had this home stopped waiting for the owner.
    const failure why = t->failure_.value_or(with_void_reason(failure::path(ETIME), *opt_.peers, owner));
    t->request.done(wire::message::failed(why));
}

void node::apply_answer(const std::shared_ptr<transaction>& t, const target& tg, const directory::answer& a,
                        std::span<const std::byte> data) {
    home_page& pg = home().page(t->index);
    {
        spin_guard g(pg.lock);
        apply_ack(t->index, pg, tg, a, directory::discards_owner_data(t->request.op), data, t->failure_);
    }
    if (--t->pending == 0) complete(t);
}

void node::target_failed(const std::shared_ptr<transaction>& t, const target& tg, failure why, deadline dl) {
    const std::uint64_t fenced_from = fences_.fenced_from(tg.node);
    const std::uint64_t now = now_ns();
    if (now >= fenced_from) {
        apply_answer(t, tg, directory::answer{.ok = false, .error = why, .fenced = true}, {});
        return;
    }
    if (fenced_from < dl.ns()) {
        // Looked at again then, not taken for granted: a reply to the node meanwhile renewed its
        // lease and moved the fence (a node this home cannot call, behind NAT for one, may still
        // call it and be answered). Forgetting its copy at the old fence let it read its old value
        // after the write was acknowledged.
        bump(opt_.counters->fence_waits);
        exec().add_timer(deadline::after_ns(fenced_from - now), [this, t, tg, why, dl] { target_failed(t, tg, why, dl); });
        return;
    }
    apply_answer(t, tg, directory::answer{.ok = false, .error = why}, {});
}

void node::complete(const std::shared_ptr<transaction>& t) {
    home_page& p = home().page(t->index);
    {
        spin_guard g(p.lock);
        if (t->answered)
            ; // the requester was told at its deadline; the owner's late answer is applied, no more
        else if (t->failure_)
            t->request.done(wire::message::failed(*t->failure_));
        else if (p.state == dir_state::lost && t->request.op != wire::msg::free && t->request.op != wire::msg::revoke)
            t->request.done(wire::message::failed(lost_page));
        else
            finish(t->request, p, t->index, t->requester_was_sharer);
        p.busy = 0;
    }
    drain(t->index);
}

void node::drain(std::uint32_t index) {
    auto it = waiting_.find(index);
    while (it != waiting_.end() && !it->second.empty()) {
        if (home().page(index).busy) return; // (read without the lock: only this thread sets it)
        home_request next = std::move(it->second.front());
        it->second.pop_front();
        {
            home_page& p = home().page(index);
            spin_guard g(p.lock);
            p.queued = static_cast<std::uint16_t>(std::min<std::size_t>(it->second.size(), UINT16_MAX));
        }
        serve(std::move(next));
        it = waiting_.find(index);
    }
    if (it != waiting_.end() && it->second.empty()) waiting_.erase(it);
}

void node::serve_local(home_request r, deadline dl, std::byte* page_out, wire::message& answer) {
    // Inline first. The completion captures one reference (it fits std::function's small buffer),
    // so a request served here allocates nothing: this path also runs inside the SIGBUS handler.
    struct inline_result {
        wire::message& out;
        std::byte* page_out;
    } in{answer, page_out};
    r.done = [&in](const wire::message& o) {
        in.out = o;
        in.out.payload = {};
        if (o.payload.size() == page_size && in.page_out != nullptr) {
            std::memcpy(in.page_out, o.payload.data(), page_size);
            in.out.payload = std::span<const std::byte>(in.page_out, page_size);
        }
    };
    if (try_serve_inline(r)) return;
    if (exec().in_loop_thread()) {
        log::coherence().error("a local request needing other nodes was made on the service thread");
        answer = wire::message::failed(failure{fetch_status::remote_error, void_reason::none});
        return;
    }
    answer = serve_via_loop(std::move(r), dl, page_out);
}

wire::message node::serve_via_loop(home_request r, deadline dl, std::byte* page_out) {
    // Other nodes must act: the service thread runs it. Whichever thread completes it may do so
    // after this caller gave up at its deadline, so the state it writes to is shared.
    struct local_result {
        std::uint32_t done = 0;
        wire::message out;
        bool has_page = false;
        alignas(64) std::byte page[page_size];
    };
    auto st = std::make_shared<local_result>();
    r.done = [st](const wire::message& o) {
        st->out = o;
        st->out.payload = {};
        if (o.payload.size() == page_size) {
            std::memcpy(st->page, o.payload.data(), page_size);
            st->has_page = true;
        }
        std::atomic_ref<std::uint32_t>(st->done).store(1, std::memory_order_release);
        futex_wake_all(st->done);
    };
    bump(opt_.counters->handoffs, 2); // to the service thread and back
    exec().post([this, req = std::move(r)]() mutable { serve(std::move(req)); });
    if (!futex_wait_until(st->done, 0, dl)) return wire::message::failed(failure::of(void_reason::timeout));
    // Reading `done` (1 by now) with acquire makes the completing thread's writes visible.
    (void)std::atomic_ref<std::uint32_t>(st->done).load(std::memory_order_acquire);
    wire::message out = st->out;
    if (st->has_page && page_out != nullptr) {
        std::memcpy(page_out, st->page, page_size);
        out.payload = std::span<const std::byte>(page_out, page_size);
    }
    return out;
}

node::page_snapshot node::snapshot(std::uint32_t index) {
    page_snapshot out;
    if (!home().valid_page(index)) return out;
    home_page& p = home().page(index);
    spin_guard g(p.lock);
    out.valid = true;
    out.state = p.state;
    out.owner = p.owner;
    out.sharers = home().sharers(index).members();
    out.generation = p.generation;
    out.cap_gen = p.cap_gen;
    out.epoch = p.epoch;
    out.queued = p.queued;
    out.allocated = p.allocated != 0;
    return out;
}

std::uint32_t node::page_changes(std::uint32_t index) noexcept {
    if (!home().valid_page(index)) return 0;
    home_page& p = home().page(index);
    spin_guard g(p.lock);
    return p.epoch + static_cast<std::uint32_t>(p.generation);
}

// ---- requests from the network ---------------------------------------------------------------------

void node::on_request(const inbound_request& in, reply_token r) noexcept {
    const wire::message& h = in.message;
    const std::span<const std::byte> payload = h.payload;
    try {
        const wire::msg type = h.type;
        reply_fn reply = [this, r](const wire::message& m) { reply_to(r, m); };
        auto refused = static_cast<void_reason>(refusal_[in.from].load(std::memory_order_relaxed));
        if (refused != void_reason::none && asks_of_home(type)) {
            reply(wire::message::failed(failure::of(refused)));
            return;
        }
        switch (type) {
        case wire::msg::read_shared:
        case wire::msg::read_exclusive:
        case wire::msg::write_bytes:
        case wire::msg::fetch_add:
        case wire::msg::compare_swap:
        case wire::msg::putback: handle_page_request(in, r); return;
        case wire::msg::invalidate: invalidations_.on_invalidate(h, r); return;
        case wire::msg::alloc: handle_alloc(h, reply); return;
        case wire::msg::free: handle_free(h.address, reply); return;
        case wire::msg::revoke: handle_revoke(h.address, reply); return;
        case wire::msg::get_generation:
        case wire::msg::get_global_gen: handle_generation(h, reply); return;
        case wire::msg::publish:
            coordinator_.store_replica(std::string(reinterpret_cast<const char*>(payload.data()), payload.size()), h.address,
                                       h.arg0, reply);
            return;
        case wire::msg::lookup:
            coordinator_.query_replica(std::string(reinterpret_cast<const char*>(payload.data()), payload.size()),
                                       static_cast<std::uint32_t>(h.arg0), reply);
            return;
        case wire::msg::barrier: coordinator_.note_arrival(in.from, h.arg0, reply); return;
        case wire::msg::ping: reply(wire::message{}); return;
        case wire::msg::set_refusal: {
            auto why = static_cast<void_reason>(h.arg0);
            if (why != void_reason::none && why != void_reason::permission && why != void_reason::generation) {
                reply(wire::message::failed(failure{fetch_status::remote_error, void_reason::none}));
                return;
            }
            set_refusal(in.from, why);
            reply(wire::message{});
            return;
        }
        default: reply(wire::message::failed(failure{fetch_status::remote_error, void_reason::none})); return;
        }
    } catch (const std::exception& e) {
        log::coherence().error("node {}: request from node {} failed: {}", opt_.self, in.from, e.what());
        reply_to(r, wire::message::failed(failure{fetch_status::remote_error, void_reason::none}));
    }
}

void node::reply_to(const reply_token& to, const wire::message& m) noexcept {
    if (to.requester() < opt_.node_count) fences_.replied(to.requester(), now_ns());
    transport_->reply(to, m);
}

void node::handle_page_request(const inbound_request& in, const reply_token& r) {
    const wire::message& h = in.message;
    const std::span<const std::byte> payload = h.payload;
    const wire::msg type = h.type;
    const std::uint64_t addr = h.address;
    // Validate everything the sender controls before it reaches the directory.
    const bool word_op = type == wire::msg::fetch_add || type == wire::msg::compare_swap;
    const std::size_t off = addr & (page_size - 1);
    bool ok = is_aether(addr) && node_of(addr) == opt_.self && home().valid_page(page_index_of(addr));
    if (word_op) ok = ok && (addr & 7) == 0;
    if (type == wire::msg::write_bytes) ok = ok && !payload.empty() && off + payload.size() <= page_size;
    if (type == wire::msg::putback) ok = ok && off == 0 && payload.size() == page_size;
    if ((type == wire::msg::read_shared || type == wire::msg::read_exclusive)) ok = ok && off == 0;
    if (!ok) {
        reply_to(r, wire::message::failed(home().valid_page(page_index_of(addr)) || !is_aether(addr)
                                              ? failure{fetch_status::invalid_addr, void_reason::permission}
                                              : never_allocated));
        return;
    }
    home_request req = home_request::of(in.from, h);
    req.done = [this, r, arrived = now_ns()](const wire::message& o) {
        reply_to(r, o);
        bump(opt_.counters->home_requests);
        const std::uint64_t took = now_ns() - arrived;
        bump(opt_.counters->home_service_ns, took);
        opt_.counters->latency.record(opt_.counters->latency.home_request, took);
    };
    if ((req.flags & wire::flag::readahead) == 0) {
        serve(std::move(req));
        return;
    }
    const std::uint64_t t0 = now_ns();
    serve(std::move(req));
    bump(opt_.counters->readahead_serve_ns, now_ns() - t0);
}

void node::handle_alloc(const wire::message& h, const reply_fn& reply) {
    auto a = allocate_local(h.arg0);
    if (!a) {
        reply(wire::message::failed(a.error()));
        return;
    }
    wire::message m;
    m.address = make_addr(opt_.self, std::uint64_t{a->first} * page_size);
    m.arg0 = a->cap_gen;
    reply(m);
}

void node::for_each_page_step(wire::msg op, const home_store::allocation& a,
                              std::function<void(std::optional<failure>)> finally) {
    struct progress {
        std::size_t left;
        std::optional<failure> failure_;
        std::function<void(std::optional<failure>)> finally;
    };
    auto pr = std::make_shared<progress>(progress{a.pages, std::nullopt, std::move(finally)});
    for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) {
        home_request req;
        req.op = op;
        req.requester = opt_.self;
        req.address = make_addr(opt_.self, std::uint64_t{i} * page_size);
        // `done` runs under the page lock: only record; the last step finishes on the loop.
        req.done = [this, pr](const wire::message& o) {
            if (!o.ok() && !pr->failure_) pr->failure_ = o.error();
            if (--pr->left == 0) exec().post([pr] { pr->finally(pr->failure_); });
        };
        serve(std::move(req));
    }
}

result<home_store::allocation> node::begin_free_at(std::uint64_t addr) {
    if (!is_aether(addr) || node_of(addr) != opt_.self || (addr & (page_size - 1)) != 0)
        return failure{fetch_status::invalid_addr, void_reason::permission};
    const std::uint32_t index = page_index_of(addr);
    auto a = home().valid_page(index) ? home().begin_free(index) : std::nullopt;
    if (a) return *a;
    // Not the start of a live allocation: never allocated, or freed already.
    bool ever = false;
    if (home().valid_page(index)) {
        spin_guard g(home().page(index).lock);
        ever = home().page(index).cap_gen != 0;
    }
    return ever ? freed_memory : never_allocated;
}

void node::handle_free(std::uint64_t addr, const reply_fn& reply) {
    auto a = begin_free_at(addr);
    if (!a) {
        reply(wire::message::failed(a.error()));
        return;
    }
    free_pages(*a, reply);
}

void node::free_pages(const home_store::allocation& alloc, const reply_fn& reply) {
    for_each_page_step(wire::msg::free, alloc, [this, alloc, reply](std::optional<failure> f) {
        if (f) {
            // Some node could not be told; its copy may live on, so the pages are not reused.
            log::coherence().warn("free of {:#x}: pages kept out of use: {}",
                                  make_addr(opt_.self, std::uint64_t{alloc.first} * page_size), to_string(f->reason));
            reply(wire::message::failed(*f));
            return;
        }
        home().finish_free(alloc);
        reply(wire::message{});
    });
}

// After begin_free no page of the allocation is granted to anyone any more (requests for freed
// memory are refused), so a page that is not busy and that no other node holds stays so: if that
// holds for every page, this node's own copies are the only ones and go without any message.
bool node::try_free_inline(const home_store::allocation& a) {
    for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) {
        home_page& p = home().page(i);
        spin_guard g(p.lock);
        if (p.busy || (p.owner != no_node && p.owner != opt_.self)) return false;
        bool others = false;
        home().sharers(i).for_each([&](node_id n) { others = others || n != opt_.self; });
        if (others) return false;
    }
    std::uint32_t epochs[cache::max_run];
    bool here[cache::max_run];
    for (std::uint32_t base = a.first; base < a.first + a.pages; base += cache::max_run) {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(cache::max_run, a.first + a.pages - base));
        // Directory entry, then cache entry: the run's directory locks are held across the drop.
        for (std::uint32_t k = 0; k < n; ++k) {
            home_page& p = home().page(base + k);
            spin_guard::lock(p.lock);
            // A page the directory does not record here has no copy here, and no grant to this node
            // that could still be installed (an invalidation this cache handled has overtaken it).
            here[k] = p.owner == opt_.self || home().sharers(base + k).has(opt_.self);
            // Every copy goes, a lost page's too (the memory is gone); the new epoch makes a grant
            // to this node that is still on its way stale.
            epochs[k] = directory::drop_all(p, home().sharers(base + k), wire::msg::free).epoch;
        }
        for (std::uint32_t k = 0; k < n && opt_.local_cache != nullptr;) {
            if (!here[k]) {
                ++k;
                continue;
            }
            std::uint32_t run = 1;
            while (k + run < n && here[k + run]) ++run;
            opt_.local_cache->discard_run(make_addr(opt_.self, std::uint64_t{base + k} * page_size), run,
                                          std::span(epochs + k, run));
            k += run;
        }
        for (std::uint32_t k = n; k-- > 0;) spin_guard::unlock(home().page(base + k).lock);
    }
    home().finish_free(a);
    return true;
}

void node::handle_revoke(std::uint64_t addr, const reply_fn& reply) {
    if (!is_aether(addr) || node_of(addr) != opt_.self || !home().valid_page(page_index_of(addr))) {
        reply(wire::message::failed(failure{fetch_status::invalid_addr, void_reason::permission}));
        return;
    }
    auto a = home().revoke(page_index_of(addr));
    if (!a) {
        home_page& p = home().page(page_index_of(addr));
        spin_guard g(p.lock);
        reply(wire::message::failed(p.cap_gen != 0 ? freed_memory : never_allocated));
        return;
    }
    std::uint64_t gen = a->cap_gen;
    const std::uint64_t base = make_addr(opt_.self, std::uint64_t{a->first} * page_size);
    const std::uint32_t pages = a->pages;
    for_each_page_step(wire::msg::revoke, *a, [reply, gen, base, pages](std::optional<failure> f) {
        if (f) {
            reply(wire::message::failed(*f));
            return;
        }
        // An event an operator wants to see: every pointer into the allocation is VOID from now on.
        log::coherence().info("revoked the allocation at {:#x} ({} pages): its capability generation is now {}", base, pages,
                              gen);
        wire::message m;
        m.arg0 = gen;
        reply(m);
    });
}

void node::handle_generation(const wire::message& h, const reply_fn& reply) {
    const auto generation = generation_local(h.type, h.address);
    if (!generation) {
        reply(wire::message::failed(generation.error()));
        return;
    }
    wire::message m;
    m.arg0 = *generation;
    reply(m);
}

// ---- local entry points -----------------------------------------------------------------------------

result<wire::message> node::run_on_loop(std::function<void(reply_fn)> fn, deadline dl, bool data_path) {
    struct state {
        std::uint32_t done = 0;
        wire::message m;
    };
    auto st = std::make_shared<state>();
    if (data_path) bump(opt_.counters->handoffs, 2);
    exec().post([fn = std::move(fn), st] {
        fn([st](const wire::message& m) {
            if (std::atomic_ref<std::uint32_t>(st->done).load(std::memory_order_relaxed) != 0) return;
            st->m = m;
            st->m.payload = {}; // refers to the replier's memory; no caller needs a reply payload
            std::atomic_ref<std::uint32_t>(st->done).store(1, std::memory_order_release);
            futex_wake_all(st->done);
        });
    });
    if (!futex_wait_until(st->done, 0, dl)) return failure::of(void_reason::timeout);
    if (st->m.status != fetch_status::ok) return failure{st->m.status, st->m.reason};
    return st->m;
}

bool node::resize_home(std::size_t bytes) {
    if (home().live_allocations() != 0) return false;
    // Swapped on the service thread, so no request it is serving sees the old store go away.
    auto r = run_on_loop(
        [this, bytes](const reply_fn& reply) {
            stores_.push_back(std::make_unique<home_store>(opt_.self, opt_.node_count, bytes));
            home_.store(stores_.back().get(), std::memory_order_release);
            reply(wire::message{});
        },
        deadline::after(milliseconds(10'000)));
    return r.ok();
}

result<home_store::allocation> node::allocate_local(std::size_t bytes) {
    auto a = home().allocate(bytes);
    if (!a) return failure{fetch_status::oom, void_reason::none};
    return *a;
}

result<void> node::free_local(std::uint64_t addr, deadline dl) {
    auto a = begin_free_at(addr);
    if (!a) return a.error();
    if (try_free_inline(*a)) return success();
    const home_store::allocation alloc = *a;
    auto r = run_on_loop([this, alloc](const reply_fn& reply) { free_pages(alloc, reply); }, dl);
    if (!r) return r.error();
    return success();
}

void node::grant_exclusive_here(std::uint32_t first, std::uint32_t pages) noexcept {
    if (opt_.local_cache == nullptr || first >= home().page_count()) return;
    pages = std::min(pages, home().page_count() - first);
    wire::readahead_grant grants[cache::max_run];
    bool granted[cache::max_run];
    unsigned char in_memory[cache::max_run];
    for (std::uint32_t base = first; base < first + pages; base += cache::max_run) {
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(cache::max_run, first + pages - base));
        // What a read_exclusive from this node would grant inline: a page nobody holds, with no
        // round in flight. The bytes installed are the home's, current for such a page. Each page's
        // fetch gate is held from the grant to the install, as a fetch would: a thread faulting on
        // the page meanwhile waits and then finds it present, instead of being granted it again
        // and installing the home's bytes over stores made to this copy.
        bool any = false;
        cache& c = *opt_.local_cache;
        for (std::uint32_t k = 0; k < n; ++k) {
            const std::uint64_t addr = make_addr(opt_.self, std::uint64_t{base + k} * page_size);
            granted[k] = false;
            if (!c.try_take_gate(addr)) continue; // a fetch of the page is in flight
            home_page& p = home().page(base + k);
            {
                spin_guard g(p.lock);
                granted[k] = directory::unclaimed(p, home().sharers(base + k));
                if (granted[k]) {
                    const auto grant = directory::make_exclusive(p, home().sharers(base + k), opt_.self, false, true);
                    grants[k] = wire::readahead_grant{.epoch = grant.epoch, .reserved = 0, .generation = grant.generation};
                }
            }
            if (granted[k])
                any = true;
            else
                c.end_fetch(addr);
        }
        if (!any) continue;
        // Home memory that was never written is not resident and reads as zeros: those pages are
        // installed from zeros, without faulting the home memory in only to copy it.
        if (::mincore(home().bytes(base), std::size_t{n} * page_size, in_memory) != 0) std::memset(in_memory, 1, n);
        // The cache drops a grant that crossed an invalidation (another node asked for the page
        // meanwhile), as for any grant; the page then faults as usual. A granted page that is not
        // installed is like a discarded grant: this node never wrote it, the home's bytes stay current.
        for (std::uint32_t k = 0; k < n;) {
            if (!granted[k]) {
                ++k;
                continue;
            }
            const bool from_home = (in_memory[k] & 1) != 0;
            std::uint32_t run = 1;
            while (k + run < n && granted[k + run] && ((in_memory[k + run] & 1) != 0) == from_home) ++run;
            c.install_run(make_addr(opt_.self, std::uint64_t{base + k} * page_size), run,
                          from_home ? home().bytes(base + k) : zero_pages, std::span(grants + k, run), true);
            k += run;
        }
        for (std::uint32_t k = 0; k < n; ++k)
            if (granted[k]) c.end_fetch(make_addr(opt_.self, std::uint64_t{base + k} * page_size));
    }
}

std::vector<std::uint64_t> node::pages_owned_elsewhere(std::size_t max) {
    std::vector<std::uint64_t> out;
    const std::uint32_t end = home().allocated_end();
    for (std::uint32_t i = 0; i < end && out.size() < max; ++i) {
        home_page& p = home().page(i);
        spin_guard g(p.lock);
        if (p.allocated && p.state == dir_state::exclusive && p.owner != no_node && p.owner != opt_.self)
            out.push_back(make_addr(opt_.self, std::uint64_t{i} * page_size));
    }
    return out;
}

result<std::uint64_t> node::revoke_local(std::uint64_t addr, deadline dl) {
    auto r = run_on_loop([this, addr](const reply_fn& reply) { handle_revoke(addr, reply); }, dl);
    if (!r) return r.error();
    return r->arg0;
}

result<std::uint64_t> node::generation_local(wire::msg which, std::uint64_t addr) {
    if (!is_aether(addr) || node_of(addr) != opt_.self || !home().valid_page(page_index_of(addr)))
        return failure{fetch_status::invalid_addr, void_reason::permission};
    home_page& p = home().page(page_index_of(addr));
    spin_guard g(p.lock);
    if (!p.allocated) return p.cap_gen == 0 ? never_allocated : freed_memory;
    return which == wire::msg::get_generation ? p.generation : p.cap_gen;
}

result<void> node::barrier_local(std::uint64_t seq, std::uint32_t timeout_ms, deadline dl) {
    auto r = run_on_loop([this, seq, timeout_ms](reply_fn reply) { coordinator_.barrier(seq, timeout_ms, std::move(reply)); }, dl,
                         false);
    if (!r) return r.error();
    return success();
}

result<void> node::publish_local(const std::string& name, std::uint64_t addr, deadline dl) {
    auto r = run_on_loop([this, name, addr](const reply_fn& reply) { coordinator_.publish(name, addr, reply); }, dl, false);
    if (!r) return r.error();
    return success();
}

result<std::uint64_t> node::lookup_local(const std::string& name, std::uint32_t wait_ms, deadline dl) {
    auto r =
        run_on_loop([this, name, wait_ms](reply_fn reply) { coordinator_.lookup(name, wait_ms, std::move(reply)); }, dl, false);
    if (!r) return r.error();
    return r->address;
}

void node::set_admin_clients(admin_client_fn take) {
    std::lock_guard g(admin_clients_lock_);
    admin_clients_ = std::move(take);
}

void node::on_admin_client(unique_fd stream) noexcept {
    std::lock_guard g(admin_clients_lock_);
    if (admin_clients_) admin_clients_(std::move(stream)); // otherwise closed: not served here
}

void node::on_peer_restarted(node_id n) noexcept {
    // The restarted process has an empty cache: it holds no copy, and writes it held exclusive
    // are gone. Every entry that names it is corrected now, not when someone trips over it.
    for (std::uint32_t i = 0; i < home().page_count(); ++i) {
        home_page& p = home().page(i);
        spin_guard g(p.lock);
        if (p.cap_gen == 0) continue;
        directory::forget(p, home().sharers(i), n);
    }
}

} // namespace aether
