// The directory's transitions. Every function runs under the entry's lock (the caller's).
#include "runtime/directory.hpp"

namespace aether::directory {

namespace {

// The state that follows from owner and sharers, for a page that is not lost.
void settle(home_page& p, const sharer_set& s) noexcept {
    if (p.state == dir_state::exclusive && p.owner == no_node) p.state = dir_state::unowned;
    if (p.state != dir_state::exclusive && p.state != dir_state::lost)
        p.state = s.empty() ? dir_state::unowned : dir_state::shared;
}

} // namespace

std::optional<failure> admit(wire::msg op, const home_page& p) noexcept {
    if (op == wire::msg::free || op == wire::msg::revoke) return std::nullopt; // steps of a granted free/revoke
    if (!p.allocated) {
        if (op == wire::msg::putback) return std::nullopt; // a late write-back of freed memory: nothing to do
        return p.cap_gen == 0 ? never_allocated : freed_memory;
    }
    if (p.state == dir_state::lost && op != wire::msg::putback) return lost_page;
    return std::nullopt;
}

target_list targets(wire::msg op, node_id requester, const home_page& p, const sharer_set& s) {
    target_list out;
    const bool exclusive = p.state == dir_state::exclusive && p.owner != no_node;
    switch (op) {
    case wire::msg::read_shared:
        if (exclusive && p.owner != requester) out.push_back({p.owner, true});
        break;
    case wire::msg::read_exclusive:
        s.for_each([&](node_id n) {
            if (n != requester) out.push_back({n, false});
        });
        if (exclusive && p.owner != requester) out.push_back({p.owner, false});
        break;
    case wire::msg::write_bytes:
    case wire::msg::fetch_add:
    case wire::msg::compare_swap:
    case wire::msg::free:
    case wire::msg::revoke:
    case wire::msg::invalidate:
        // Every copy goes, the requester's own included: the bytes change at the home.
        s.for_each([&](node_id n) { out.push_back({n, false}); });
        if (exclusive) out.push_back({p.owner, false});
        break;
    default: break;
    }
    return out;
}

answer_effect on_answer(home_page& p, sharer_set s, const target& t, const answer& a, bool discard) {
    answer_effect out;
    if (a.ok) {
        if (!a.carries_page && !discard) owner_gave_up(p, s, t.node, a.given_up);
        if (a.carries_page && !discard && p.owner == t.node) {
            out.take_page = true; // the exclusive copy comes home
            ++p.generation;
        }
        if (p.owner == t.node) p.owner = no_node;
        if (t.downgrade)
            s.add(t.node);
        else
            s.remove(t.node);
        settle(p, s);
        return out;
    }
    // No error tells a dead node from a live one cut off (a reset or an ICMP reject comes from a
    // firewall as well as from a host without the process): only the lease does.
    if (a.fenced) {
        if (p.owner == t.node && !discard) {
            // The only current bytes are at the owner, set aside there: the page waits for it
            // (never lost while the owner may live; forget() when it restarts).
            out.fails_with = a.error;
            return out;
        }
        s.remove(t.node);
        if (p.owner == t.node) p.owner = no_node;
        settle(p, s);
        return out;
    }
    // Not fenced yet: the node may still use its copy; it stays recorded and the request fails.
    out.fails_with = a.error;
    return out;
}

grant share(home_page& p, sharer_set s, node_id requester) {
    if (p.state == dir_state::exclusive && p.owner == requester) {
        // The owner asks for a shared copy: it no longer holds its grant (it was discarded as
        // stale), so it never wrote; the home's bytes are current.
        p.owner = no_node;
    }
    s.add(requester);
    p.state = dir_state::shared;
    return grant{.epoch = ++p.epoch, .generation = p.generation, .send_page = true};
}

grant make_exclusive(home_page& p, sharer_set s, node_id requester, bool requester_was_sharer, bool need_data) {
    s.clear();
    p.state = dir_state::exclusive;
    p.owner = requester;
    ++p.generation; // the grant is for writing
    const bool keeps_copy = requester_was_sharer && !need_data;
    return grant{.epoch = ++p.epoch, .generation = p.generation, .send_page = !keeps_copy, .requester_is_sharer = keeps_copy};
}

grant record_write(home_page& p) noexcept {
    ++p.generation;
    return grant{.epoch = ++p.epoch, .generation = p.generation};
}

std::optional<grant> accept_putback(home_page& p, sharer_set s, node_id requester) {
    if (p.state != dir_state::exclusive || p.owner != requester) return std::nullopt;
    ++p.generation;
    p.owner = no_node;
    // The owner stays recorded as a sharer, whether it keeps a copy (flush) or drops it: if this
    // reply is lost, its copy stays frozen and readable at its node, and the next write must reach
    // it. A dropped copy costs one unneeded invalidation at most.
    s.clear();
    s.add(requester);
    p.state = dir_state::shared;
    return grant{.epoch = ++p.epoch, .generation = p.generation};
}

grant drop_all(home_page& p, sharer_set s, wire::msg op, std::uint64_t generation_floor) noexcept {
    s.clear();
    p.owner = no_node;
    if (p.state != dir_state::lost || op == wire::msg::free) p.state = dir_state::unowned;
    if (generation_floor > p.generation) p.generation = generation_floor;
    ++p.epoch;
    return grant{.epoch = p.epoch, .generation = p.generation};
}

bool owner_gave_up(home_page& p, sharer_set s, node_id n, std::uint64_t given_up) noexcept {
    if (p.state != dir_state::exclusive || p.owner != n || given_up == 0 || given_up != p.generation || !p.allocated)
        return false;
    p.owner = no_node;
    p.state = dir_state::lost;
    settle(p, s);
    return true;
}

bool forget(home_page& p, sharer_set s, node_id gone) noexcept {
    s.remove(gone);
    bool lost = false;
    if (p.state == dir_state::exclusive && p.owner == gone) {
        p.owner = no_node;
        lost = p.allocated != 0;
        p.state = lost ? dir_state::lost : dir_state::unowned;
    }
    settle(p, s);
    return lost;
}

bool shareable_ahead(const home_page& p) noexcept {
    return p.busy == 0 && p.allocated != 0 && p.state != dir_state::lost && p.state != dir_state::exclusive;
}

bool unclaimed(const home_page& p, const sharer_set& s) noexcept {
    return p.busy == 0 && p.allocated != 0 && p.state == dir_state::unowned && p.owner == no_node && s.empty();
}

} // namespace aether::directory
