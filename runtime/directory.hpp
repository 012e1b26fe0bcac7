// directory: the per-page state machine of the write-invalidate protocol a home runs for each of
// its pages, with no threads, no sockets and no page bytes.
//
// Each function takes one event for one directory entry (a request arrives, a node answers an
// invalidation or a recall, a request completes) and returns what the home must do next: refuse,
// ask these nodes first, take the owner's bytes home, send a grant with this epoch. The caller holds
// the entry's lock and does the rest: sending messages, waiting for answers, queueing requests while
// the entry is busy (node.cpp), copying bytes (home_store). That keeps every transition in one place
// that a table-driven test can drive (tests/unit/directory_test.cpp) and that the Promela model
// describes (docs/protocol.md).
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/inline_list.hpp"
#include "aether/internal/result.hpp"
#include "runtime/home.hpp"
#include "transport/wire.hpp"

#include <cstdint>
#include <optional>

namespace aether::directory {

// A node that must act before a request completes: its copy is invalidated, or (downgrade) the
// exclusive owner keeps a read-only copy and sends its bytes home.
struct target {
    node_id node = no_node;
    bool downgrade = false;
};
// Inline (no allocation) up to 8: this also runs inside the SIGBUS handler.
using target_list = inline_list<target, 8>;

// Why a request is refused before any node is asked.
inline constexpr failure never_allocated{fetch_status::invalid_addr, void_reason::permission};
inline constexpr failure freed_memory{fetch_status::generation, void_reason::generation};
inline constexpr failure lost_page{fetch_status::unreachable, void_reason::node_crashed};

// Event: a request for the page arrives (and the entry is not busy). A failure ends it at once.
std::optional<failure> admit(wire::msg op, const home_page& p) noexcept;

// The nodes that must act before `op` from `requester` completes, in the order asked.
target_list targets(wire::msg op, node_id requester, const home_page& p, const sharer_set& s);

// Whether `op` discards the exclusive owner's bytes instead of taking them home (a free).
constexpr bool discards_owner_data(wire::msg op) noexcept { return op == wire::msg::free; }

// Event: a target answered. `ok`: it dropped or downgraded its copy, and `carries_page` says it sent
// its bytes; `given_up` is the generation of the last exclusive copy whose bytes it gave up in an
// answer like this one (0: none; see owner_gave_up). Otherwise `error` says why it did not answer,
// and `fenced` whether its lease on this home's pages has run out since (lease.hpp): it no longer
// uses its copy, whatever became of it.
struct answer {
    bool ok = true;
    failure error{};
    bool carries_page = false;
    std::uint64_t given_up = 0;
    bool fenced = false;
};
struct answer_effect {
    bool take_page = false;            // the caller copies the answer's bytes into the home's
    std::optional<failure> fails_with; // the request fails: the node may still hold its copy
};
// May allocate (a sharer set beyond 64 nodes), as share, make_exclusive and accept_putback may.
answer_effect on_answer(home_page& p, sharer_set s, const target& t, const answer& a, bool discard);

// Event: every target has answered and the request completes. What the home sends with it.
struct grant {
    std::uint32_t epoch = 0;          // the entry's epoch after the event (a copy's grant carries it)
    std::uint64_t generation = 0;     // the page's write generation after the request
    bool send_page = false;           // the home's bytes go with the reply
    bool requester_is_sharer = false; // read_exclusive: the requester's copy is current, no bytes
};
// A read-only copy for `requester`.
grant share(home_page& p, sharer_set s, node_id requester);
// The only (writable) copy for `requester`. `need_data`: it asked for the bytes even if it holds
// a copy.
grant make_exclusive(home_page& p, sharer_set s, node_id requester, bool requester_was_sharer, bool need_data);
// The home's bytes changed (write_bytes, fetch_add, a compare_swap that swapped); the caller has
// changed them. Every copy was invalidated before.
grant record_write(home_page& p) noexcept;
// The exclusive owner sends its bytes home and keeps (at most) a read-only copy. Empty when the
// requester is not the owner any more: nothing to apply.
std::optional<grant> accept_putback(home_page& p, sharer_set s, node_id requester);
// Every copy is gone (free, revoke, an explicit invalidate). `generation_floor`: the generation the
// page must reach at least (an invalidate carries the caller's view).
grant drop_all(home_page& p, sharer_set s, wire::msg op, std::uint64_t generation_floor = 0) noexcept;

// Event: node `n`, recorded as the exclusive owner, answers or asks without the copy of its grant,
// and `given_up` (the generation of the last exclusive copy whose bytes it gave up in an answer to a
// recall; 0: none) names that grant: the page's generation does not change while an owner holds
// it. So it did hold the copy, and gave its bytes away in an answer this home never got (had the
// home got it, it would have taken them and cleared the owner): the answer's connection failed
// before the home read it. The home's bytes are older than the page's, and nobody has the current
// ones: the page is lost, VOID rather than stale. Returns whether it was. (A `given_up` of an older
// grant says the node never installed this one, whose grant it discarded as stale or never got:
// the home's bytes are current.)
bool owner_gave_up(home_page& p, sharer_set s, node_id n, std::uint64_t given_up) noexcept;

// Event: node `gone` restarted with an empty cache. It holds no copy any more; if it held the page
// exclusive, its writes are gone and a live page is lost. Returns whether it was.
bool forget(home_page& p, sharer_set s, node_id gone) noexcept;

// Whether a readahead run may share the page with the requester without any other node acting:
// allocated, not lost, not held exclusive, no round in flight.
bool shareable_ahead(const home_page& p) noexcept;
// Whether the page is nobody's: the home may grant it exclusive without any message.
bool unclaimed(const home_page& p, const sharer_set& s) noexcept;

} // namespace aether::directory
