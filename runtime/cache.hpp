// cache: this node's copies of pages (other nodes' and its own home pages), kept in the window at
// their own addresses, and the per-page state that says what each copy may be used for.
//
// Per page: Invalid (not mapped: an access faults), Shared (mapped write-protected: reads are
// free, a write faults), Exclusive (mapped writable). Every grant from a home carries the page's
// epoch; every invalidation carries one too. A grant older than an invalidation already handled
// crossed it on the wire and is discarded, never installed.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/mapped_array.hpp"
#include "fault/window.hpp"
#include "runtime/stats.hpp"
#include "transport/wire.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <unordered_map>

namespace aether {

// A callable taking a page address, referred to, not stored: unlike std::function it never
// allocates, so the fault path may walk pages inside the SIGBUS handler. The callable must outlive
// the call it is passed to (a lambda written in the argument list does).
class page_visitor {
public:
    // clang-format off: clang-format 14 does not lay out requires-clauses
    template <class F> // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): the requires-clause excludes page_visitor
    requires(!std::is_same_v<std::remove_cvref_t<F>, page_visitor>) page_visitor(F&& f)
    noexcept // NOLINT(google-explicit-constructor): written as a lambda argument
        : callable_(const_cast<void*>(static_cast<const void*>(&f))),
          call_([](void* c, std::uint64_t page) { (*static_cast<std::remove_reference_t<F>*>(c))(page); }) {}
    // clang-format on
    void operator()(std::uint64_t page) const { call_(callable_, page); }

private:
    void* callable_;
    void (*call_)(void*, std::uint64_t);
};

enum class cache_state : std::uint8_t {
    invalid = 0,
    shared,
    exclusive,
    frozen,    // exclusive, write-protected, its data on the way home (a putback in flight)
    void_copy, // the 0xFF page installed for a load that could not be served
};

// The copy holds the page's real bytes (a VOID copy's 0xFF are not them).
constexpr bool is_readable(cache_state s) noexcept {
    return s == cache_state::shared || s == cache_state::exclusive || s == cache_state::frozen;
}

// Metadata of one window page (32 bytes; zero is the initial, invalid state).
struct cache_page {
    std::uint32_t seq;  // seqlock: odd while the copy changes
    std::uint32_t lock; // spin_guard word
    std::uint32_t gate; // 1 while a fetch is in flight (futex word)
    std::uint8_t state; // cache_state
    // When a fault installed the copy: a 24-bit microsecond clock (wraps every 16.7 s), for the
    // hold window (see cache::hold_remaining_ns).
    std::uint8_t faulted_in_hi;
    std::uint16_t faulted_in_lo;
    std::uint32_t grant_epoch; // epoch of the grant the copy came from; for a VOID copy: its void_reason
    std::uint32_t inval_epoch; // highest invalidation epoch handled
    std::uint64_t generation;  // page generation of the copy; for a VOID copy: when it expires
};
static_assert(sizeof(cache_page) == 32);

class cache {
public:
    cache(fault::window& w, node_id node_count, node_counters& counters);
    ~cache();

    fault::window& window() noexcept { return window_; }

    // Copies `len` bytes at `addr` (within one page) from a present copy; lock-free. False when
    // the page is not present or changed meanwhile.
    bool read_if_present(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation) noexcept;

    // One fetch per page at a time. `acquired`: the caller fetches and must call end_fetch();
    // `present`: the page became usable while waiting; `timeout`: the deadline passed.
    enum class gate_result { acquired, present, timeout };
    gate_result begin_fetch(std::uint64_t page, bool need_exclusive, deadline dl) noexcept;
    // The same gate whatever the copy's state (`acquired` or `timeout`): a local drop holds it
    // from freezing the copy until its write-back is answered, so no fetch of the page overtakes
    // the bytes on their way home.
    gate_result take_gate(std::uint64_t page, deadline dl) noexcept;
    void end_fetch(std::uint64_t page) noexcept;
    // The gate if no fetch holds it, without waiting (end_fetch() it); false if one does.
    bool try_take_gate(std::uint64_t page) noexcept;

    enum class install_result { installed, stale, failed };
    // Installs a granted copy (read-only unless exclusive). `wake`: threads may be waiting in a
    // fault on the page (the fault path); an explicit read leaves waking to the fault handler,
    // which wakes every page it finds present, and saves the wake-up scan here.
    install_result install(std::uint64_t page, const std::byte* data, std::uint32_t grant_epoch, std::uint64_t generation,
                           bool exclusive, bool wake = true) noexcept;
    // A read-only copy for a page nobody here asked for yet (readahead): installed only if there is
    // no copy (a copy obtained meanwhile, maybe written, is never replaced), and waking the page.
    void install_if_absent(std::uint64_t page, const std::byte* data, std::uint32_t grant_epoch,
                           std::uint64_t generation) noexcept;
    // Readahead: installs read-only copies of the `count` pages after `first`, `data` holding them in
    // order, each granted with grants[i]. A page that is present already, or whose grant crossed an
    // invalidation, is left out. Contiguous runs go in one ioctl, without waking (a thread that
    // faulted on one of them meanwhile finds it present when its own fault is handled). Returns
    // how many were installed.
    std::size_t install_following(std::uint64_t first, std::size_t count, const std::byte* data,
                                  std::span<const wire::readahead_grant> grants) noexcept {
        return install_run(first + page_size, count, data, grants, false);
    }
    // The same from `first` itself, read-only unless `exclusive` (this node's own memory granted to
    // it in one batch, node::grant_exclusive_here). At most max_run pages.
    static constexpr std::size_t max_run = 64;
    std::size_t install_run(std::uint64_t first, std::size_t count, const std::byte* data,
                            std::span<const wire::readahead_grant> grants, bool exclusive) noexcept;
    // Drops the copies of the `count` (at most max_run) pages from `first` whatever their state,
    // their bytes discarded (the memory is being freed), handling invalidation epochs[i] for page
    // i: one madvise for the run instead of one per page.
    void discard_run(std::uint64_t first, std::size_t count, std::span<const std::uint32_t> epochs) noexcept;
    // How many of the `max` pages after `first` are absent here, counting up to the first present one.
    std::size_t absent_run(std::uint64_t first, std::size_t max) noexcept;
    // A grant of exclusivity for the copy already held (the home knew it was current).
    install_result upgrade(std::uint64_t page, std::uint32_t grant_epoch, std::uint64_t generation) noexcept;
    // The 0xFF page for a load that failed for `why`: read-only, so a store still faults. It is kept
    // until `expires_ms` (monotonic milliseconds). `stale` if the page meanwhile got a copy;
    // `failed` if the kernel refused it (counted in install_failures).
    install_result install_void(std::uint64_t page, std::uint64_t expires_ms, void_reason why) noexcept;
    // Why the VOID copy of `page` stands (none when the page holds no VOID copy).
    void_reason void_reason_of(std::uint64_t page) noexcept;
    // Drops VOID copies that expired by `now_ms` (of one node, or of all), calling `each` for
    // every page dropped; returns how many.
    std::size_t drop_void_pages(std::uint64_t now_ms, page_visitor each, node_id only = no_node) noexcept;

    // An invalidation from the home: drop the copy (or keep it read-only: downgrade).
    enum class invalidation {
        done,       // no copy, or a shared or VOID one: dropped (or downgraded), nothing to send
        sent_bytes, // the copy was exclusive (or frozen, or set aside): its bytes are in `data_out`
        // Sent before this copy was granted (a lower epoch): the copy stays. The home has given up
        // on it (it grants nothing while a round is in flight), and only a network that held it
        // back, a cut that healed, delivers it this late.
        stale,
    };
    // Sending an exclusive (or frozen) copy's bytes records its generation as given up (below).
    invalidation invalidate(std::uint64_t page, std::uint32_t epoch, bool downgrade, std::byte* data_out) noexcept;
    // The generation of the last exclusive copy of `page` whose bytes this node gave up in an
    // answer to an invalidation (0: none). That answer can be lost with its connection after the
    // copy is gone; the home, told this with every later answer and request, then knows its own
    // bytes are not the page's (directory::owner_gave_up). Kept per page for the whole window, like
    // the copies' entries, and reset only when the home restarts (its generations start again).
    std::uint64_t given_up_generation(std::uint64_t page) noexcept;

    // Local drops. Shared and VOID copies go silently; an exclusive copy is write-protected and its
    // bytes returned (state frozen) so the caller can send them home, then call finish_writeback.
    enum class drop_result { none, dropped, needs_writeback };
    drop_result begin_drop(std::uint64_t page, bool keep_shared, std::byte* data_out) noexcept;
    void finish_writeback(std::uint64_t page, bool keep_shared, std::uint32_t grant_epoch) noexcept;
    // Bytes this node holds that the home has not got: a copy still frozen after its write-back
    // failed, or a copy set aside (below). Copies them (the only current ones) into `data_out` so
    // they can be sent home. False if there are none.
    bool copy_unsent(std::uint64_t page, std::byte* data_out) noexcept;
    // A look without locks: whether copy_unsent(page) may find bytes. The caller holds the page's
    // fetch gate, so a copy frozen or set aside before it took the gate is seen.
    bool may_have_unsent(std::uint64_t page) noexcept {
        return state(page) == cache_state::frozen || aside_unsent_.load(std::memory_order_acquire) > 0;
    }

    // A home that is down: its memory is VOID here, cached copies included (docs/protocol.md,
    // "A home that is down"). Shared copies are dropped; an exclusive or frozen copy holds the
    // only current bytes, so they are set aside, out of the window, until the home takes them
    // back (a recall, or the putback that goes before this node's next request for the page).
    // Pages with a fetch in flight are left for a later pass. Returns how many were left.
    // Service or application thread (it allocates), never the fault path.
    std::size_t set_aside_node(node_id n);
    // A home that restarted lost its memory: every copy of it here goes, set-aside bytes included.
    void discard_node(node_id n);
    // Frees the buffers of set-aside bytes that went home (the fault path, which may run in a
    // signal handler, only marks them). Service thread.
    void sweep_aside();
    // Calls fn(page) for every page with bytes set aside.
    void for_each_aside(page_visitor fn);

    struct snapshot_t {
        cache_state state = cache_state::invalid;
        std::uint64_t generation = 0;
        std::uint32_t grant_epoch = 0;
    };
    snapshot_t snapshot(std::uint64_t page) noexcept;

    // The hold window: how long an invalidation of `page` should wait so that the access that
    // faulted for the copy gets to use it first (0: not at all): what is left of `hold_ns` since a
    // fault installed it. Without it, a thread spinning on a flag can take the page back before the
    // writer's store ran, again and again (see docs/protocol.md, "The hold window").
    std::uint64_t hold_remaining_ns(std::uint64_t page, std::uint64_t hold_ns) noexcept;
    // The copy's state alone, without the page lock: a moment's view, for a fast path that checks
    // again under the lock (or the fetch gate) before it relies on it.
    cache_state state(std::uint64_t page) noexcept;
    // Calls fn(page) for every page with a copy here (not under any lock); of one node's memory.
    void for_each_present(page_visitor fn);
    void for_each_present_of(node_id n, page_visitor fn);
    [[nodiscard]] std::size_t present_pages();

private:
    cache_page* entry(std::uint64_t page) noexcept;
    template <class Usable>
    gate_result wait_for_gate(std::uint64_t page, deadline dl, Usable usable) noexcept;
    void remove_copy(std::uint64_t page, cache_page& e) noexcept;
    void release_aside(std::uint64_t page) noexcept;
    install_result install_locked(std::uint64_t page, cache_page& e, const std::byte* data, std::uint32_t grant_epoch,
                                  std::uint64_t generation, bool exclusive, bool wake) noexcept;
    void set_resident(std::uint64_t page, bool on) noexcept;
    static void begin_change(cache_page& e) noexcept;
    static void end_change(cache_page& e) noexcept;

    fault::window& window_;
    node_counters& counters_;
    // One entry per window page and one resident bit per page, for the whole window: reserved at
    // once, backed only where touched, so the fault path (also a signal handler) never allocates.
    mapped_array<cache_page> pages_;
    mapped_array<std::uint64_t> resident_;
    mapped_array<std::uint64_t> given_up_; // given_up_generation, per window page; under the page's lock

    // Bytes set aside (set_aside_node). `sent`: they went home; the buffer is freed by sweep_aside.
    // Lock order: a page's lock, then aside_lock_.
    struct aside_bytes {
        bool sent = false;
        alignas(64) std::byte bytes[page_size];
    };
    // Finds the unsent bytes of `page` (nullptr if none); the caller holds aside_lock_.
    aside_bytes* find_aside(std::uint64_t page) noexcept;
    std::uint32_t aside_lock_ = 0;
    std::atomic<std::size_t> aside_unsent_{0}; // entries not sent: the fault path's cheap look
    std::unordered_map<std::uint64_t, std::unique_ptr<aside_bytes>> aside_;
};

} // namespace aether
