// The copies this node holds in the window, and the per-page states that guard them.
#include "runtime/cache.hpp"

#include "aether/internal/sync.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

namespace aether {

namespace {

constexpr std::uint32_t stamp_mask = 0xFFFFFF; // the 24-bit microsecond clock of cache_page

std::uint32_t stamp_now() noexcept { return static_cast<std::uint32_t>(now_ns() / 1000) & stamp_mask; }

// Records when a copy went in: now for a fault's copy (its access has yet to run), half the clock's
// range ago (8 s: older than any hold) for one nobody waits on.
void stamp_install(cache_page& e, bool for_fault) noexcept {
    const std::uint32_t us = (stamp_now() - (for_fault ? 0 : (stamp_mask + 1) / 2)) & stamp_mask;
    e.faulted_in_hi = static_cast<std::uint8_t>(us >> 16);
    e.faulted_in_lo = static_cast<std::uint16_t>(us);
}

cache_state load_state(cache_page& e) noexcept {
    return static_cast<cache_state>(std::atomic_ref<std::uint8_t>(e.state).load(std::memory_order_relaxed));
}
void store_state(cache_page& e, cache_state s) noexcept {
    std::atomic_ref<std::uint8_t>(e.state).store(static_cast<std::uint8_t>(s), std::memory_order_relaxed);
}

} // namespace

cache::cache(fault::window& w, node_id node_count, node_counters& counters)
    : window_(w),
      counters_(counters),
      pages_(std::size_t{node_count} * pages_per_node),
      resident_(std::size_t{node_count} * pages_per_node / 64),
      given_up_(std::size_t{node_count} * pages_per_node) {}

cache::~cache() = default;

cache_page* cache::entry(std::uint64_t page) noexcept { return window_.contains(page) ? &pages_[window_page_of(page)] : nullptr; }

void cache::set_resident(std::uint64_t page, bool on) noexcept {
    const std::uint64_t i = window_page_of(page);
    std::atomic_ref<std::uint64_t> w(resident_[i / 64]);
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if (on)
        w.fetch_or(bit, std::memory_order_relaxed);
    else
        w.fetch_and(~bit, std::memory_order_relaxed);
}

// Takes the copy out of the window (the caller holds the page lock, inside begin/end_change).
// Threads waiting on its write protection fault again, now as MISSING, and refetch.
void cache::remove_copy(std::uint64_t page, cache_page& e) noexcept {
    window_.drop(page);
    window_.wake(page);
    store_state(e, cache_state::invalid);
    set_resident(page, false);
}

void cache::begin_change(cache_page& e) noexcept {
    std::atomic_ref<std::uint32_t>(e.seq).fetch_add(1, std::memory_order_acq_rel);
}

void cache::end_change(cache_page& e) noexcept { std::atomic_ref<std::uint32_t>(e.seq).fetch_add(1, std::memory_order_release); }

bool cache::read_if_present(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation) noexcept {
    cache_page* e = entry(page_floor(addr));
    if (e == nullptr) return false;
    std::atomic_ref<std::uint32_t> seq(e->seq);
    std::uint32_t before = seq.load(std::memory_order_acquire);
    if ((before & 1) != 0 || !is_readable(load_state(*e))) return false;
    std::uint64_t gen = std::atomic_ref<std::uint64_t>(e->generation).load(std::memory_order_relaxed);
    // If the copy is dropped while we copy, the load faults and the fault path serves it; the
    // changed sequence number then sends this read down the slow path.
    std::memcpy(dest, as_ptr(addr), len);
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer does not model fences: the same ordering as a read-modify-write it does model.
    if (seq.fetch_add(0, std::memory_order_acq_rel) != before) return false;
#else
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq.load(std::memory_order_relaxed) != before) return false;
#endif
    if (generation) *generation = gen;
    return true;
}

// The gate word: 0 free, 1 a fetch in flight, 3 a fetch in flight with threads waiting for it.
// Only then does ending the fetch need the futex wake (a system call). `usable`: the copy's state
// already serves the caller, who then needs no gate.
template <class Usable>
cache::gate_result cache::wait_for_gate(std::uint64_t page, deadline dl, Usable usable) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return gate_result::timeout;
    std::atomic_ref<std::uint32_t> gate(e->gate);
    for (;;) {
        if (usable(load_state(*e))) return gate_result::present;
        std::uint32_t expected = 0;
        if (gate.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
            // A fetch that ended between the look above and taking the gate has made the copy usable
            // (its state was recorded before its gate was released): fetching again would install a
            // second copy over it, and over a store made to it meanwhile.
            if (!usable(load_state(*e))) return gate_result::acquired;
            end_fetch(page);
            return gate_result::present;
        }
        if (expected == 1 && !gate.compare_exchange_strong(expected, 3, std::memory_order_acq_rel) && expected == 0)
            continue; // the fetch ended meanwhile
        if (!futex_wait_until(e->gate, 3, dl)) return gate_result::timeout;
    }
}

cache::gate_result cache::begin_fetch(std::uint64_t page, bool need_exclusive, deadline dl) noexcept {
    return wait_for_gate(
        page, dl, [need_exclusive](cache_state s) { return need_exclusive ? s == cache_state::exclusive : is_readable(s); });
}

cache::gate_result cache::take_gate(std::uint64_t page, deadline dl) noexcept {
    return wait_for_gate(page, dl, [](cache_state) { return false; });
}

bool cache::try_take_gate(std::uint64_t page) noexcept {
    cache_page* e = entry(page);
    std::uint32_t expected = 0;
    return e != nullptr &&
           std::atomic_ref<std::uint32_t>(e->gate).compare_exchange_strong(expected, 1, std::memory_order_acq_rel);
}

void cache::end_fetch(std::uint64_t page) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return;
    if (std::atomic_ref<std::uint32_t>(e->gate).exchange(0, std::memory_order_acq_rel) == 3) futex_wake_all(e->gate);
}

cache::install_result cache::install(std::uint64_t page, const std::byte* data, std::uint32_t grant_epoch,
                                     std::uint64_t generation, bool exclusive, bool wake) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return install_result::failed;
    spin_guard g(e->lock);
    return install_locked(page, *e, data, grant_epoch, generation, exclusive, wake);
}

cache::install_result cache::install_locked(std::uint64_t page, cache_page& e, const std::byte* data, std::uint32_t grant_epoch,
                                            std::uint64_t generation, bool exclusive, bool wake) noexcept {
    if (grant_epoch < e.inval_epoch) {
        bump(counters_.stale_grants);
        return install_result::stale;
    }
    begin_change(e);
    cache_state s = load_state(e);
    if (s != cache_state::invalid) window_.drop(page); // replace an older or VOID copy
    int rc = window_.install(page, data, exclusive, !wake);
    if (rc == -EEXIST) {
        // Present although the state said otherwise: replace it rather than trust it.
        window_.drop(page);
        rc = window_.install(page, data, exclusive, !wake);
    }
    if (rc != 0) {
        store_state(e, cache_state::invalid);
        end_change(e);
        // Counted, not logged: this runs on the fault path, maybe in a SIGBUS handler, and the
        // caller reports the failure (install_result::failed).
        bump(counters_.install_failures);
        return install_result::failed;
    }
    store_state(e, exclusive ? cache_state::exclusive : cache_state::shared);
    stamp_install(e, wake); // a fault waits for this copy (an explicit read has its bytes already)
    e.grant_epoch = grant_epoch;
    std::atomic_ref<std::uint64_t>(e.generation).store(generation, std::memory_order_relaxed);
    end_change(e);
    set_resident(page, true);
    return install_result::installed;
}

void cache::install_if_absent(std::uint64_t page, const std::byte* data, std::uint32_t grant_epoch,
                              std::uint64_t generation) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return;
    spin_guard g(e->lock);
    if (load_state(*e) != cache_state::invalid) return;
    (void)install_locked(page, *e, data, grant_epoch, generation, false, true); // a stale grant stays out
}

std::size_t cache::absent_run(std::uint64_t first, std::size_t max) noexcept {
    std::size_t n = 0;
    for (; n < max; ++n) {
        cache_page* e = entry(first + (n + 1) * page_size);
        if (e == nullptr || load_state(*e) != cache_state::invalid) break;
    }
    return n;
}

std::size_t cache::install_run(std::uint64_t first, std::size_t count, const std::byte* data,
                               std::span<const wire::readahead_grant> grants, bool exclusive) noexcept {
    count = std::min({count, grants.size(), max_run});
    cache_page* entries[max_run];
    bool take[max_run];
    std::size_t n = 0;
    // Every page's lock is held from its check to its install, so an invalidation cannot slip in
    // between (it waits, then finds the copy and takes it). Ascending order, like every multi-page
    // lock holder.
    for (; n < count; ++n) {
        const std::uint64_t page = first + n * page_size;
        cache_page* e = entry(page);
        if (e == nullptr) break;
        entries[n] = e;
        spin_guard::lock(e->lock);
        take[n] = load_state(*e) == cache_state::invalid;
        if (take[n] && grants[n].epoch < e->inval_epoch) {
            bump(counters_.stale_grants);
            take[n] = false;
        }
    }
    std::size_t installed = 0;
    for (std::size_t i = 0; i < n;) {
        if (!take[i]) {
            ++i;
            continue;
        }
        std::size_t run = 1;
        while (i + run < n && take[i + run]) ++run;
        const std::uint64_t page = first + i * page_size;
        for (std::size_t j = i; j < i + run; ++j) begin_change(*entries[j]);
        int rc = window_.install(page, data + i * page_size, exclusive, true, run);
        for (std::size_t j = i; j < i + run; ++j) {
            cache_page& e = *entries[j];
            // A failed run (a page was present although its state said not) is left uninstalled:
            // the pages the kernel did copy are dropped again so that state and window agree.
            if (rc == 0) {
                store_state(e, exclusive ? cache_state::exclusive : cache_state::shared);
                stamp_install(e, false); // nobody faulted for it
                e.grant_epoch = grants[j].epoch;
                std::atomic_ref<std::uint64_t>(e.generation).store(grants[j].generation, std::memory_order_relaxed);
                set_resident(first + j * page_size, true);
                ++installed;
            }
            end_change(e);
        }
        if (rc != 0) {
            bump(counters_.install_failures, run); // (fault path: counted, not logged)
            window_.drop(page, run);
        }
        i += run;
    }
    for (std::size_t i = n; i-- > 0;) spin_guard::unlock(entries[i]->lock);
    return installed;
}

void cache::discard_run(std::uint64_t first, std::size_t count, std::span<const std::uint32_t> epochs) noexcept {
    count = std::min({count, epochs.size(), max_run});
    cache_page* entries[max_run];
    std::size_t n = 0;
    std::size_t had_copy = 0;
    // As in invalidate(), but with the locks of the whole run held across one drop: no fault can
    // install a copy (even a VOID one) between a page's state change and the madvise.
    for (; n < count; ++n) {
        cache_page* e = entry(first + n * page_size);
        if (e == nullptr) break;
        entries[n] = e;
        spin_guard::lock(e->lock);
        if (epochs[n] > e->inval_epoch) e->inval_epoch = epochs[n];
        if (load_state(*e) != cache_state::invalid) ++had_copy;
        begin_change(*e);
    }
    if (n > 0) {
        window_.drop(first, n);
        window_.wake(first, n);
    }
    for (std::size_t i = 0; i < n; ++i) {
        store_state(*entries[i], cache_state::invalid);
        set_resident(first + i * page_size, false);
        end_change(*entries[i]);
    }
    for (std::size_t i = n; i-- > 0;) spin_guard::unlock(entries[i]->lock);
    bump(counters_.invalidations_received, had_copy);
}

cache::install_result cache::upgrade(std::uint64_t page, std::uint32_t grant_epoch, std::uint64_t generation) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return install_result::failed;
    spin_guard g(e->lock);
    if (grant_epoch < e->inval_epoch || load_state(*e) != cache_state::shared) {
        bump(counters_.stale_grants);
        return install_result::stale;
    }
    begin_change(*e);
    int rc = window_.make_writable(page);
    if (rc == 0) {
        stamp_install(*e, true); // only a store fault asks for an upgrade
        store_state(*e, cache_state::exclusive);
        e->grant_epoch = grant_epoch;
        std::atomic_ref<std::uint64_t>(e->generation).store(generation, std::memory_order_relaxed);
    }
    end_change(*e);
    return rc == 0 ? install_result::installed : install_result::failed;
}

cache::install_result cache::install_void(std::uint64_t page, std::uint64_t expires_ms, void_reason why) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return install_result::failed;
    spin_guard g(e->lock);
    if (load_state(*e) != cache_state::invalid) return install_result::stale;
    begin_change(*e);
    const bool ok = window_.install_filled(page, 0xFF, false) == 0;
    if (ok) {
        store_state(*e, cache_state::void_copy);
        e->grant_epoch = static_cast<std::uint32_t>(why);
        std::atomic_ref<std::uint64_t>(e->generation).store(expires_ms, std::memory_order_relaxed);
        set_resident(page, true);
    } else {
        bump(counters_.install_failures);
    }
    end_change(*e);
    return ok ? install_result::installed : install_result::failed;
}

void_reason cache::void_reason_of(std::uint64_t page) noexcept {
    cache_page* e = entry(page_floor(page));
    if (e == nullptr) return void_reason::none;
    spin_guard g(e->lock);
    return load_state(*e) == cache_state::void_copy ? static_cast<void_reason>(e->grant_epoch) : void_reason::none;
}

std::size_t cache::drop_void_pages(std::uint64_t now_ms, page_visitor each, node_id only) noexcept {
    std::size_t dropped = 0;
    for_each_present([&](std::uint64_t page) {
        if (only != no_node && node_of(page) != only) return;
        cache_page* e = entry(page);
        spin_guard g(e->lock);
        if (load_state(*e) != cache_state::void_copy || e->generation > now_ms) return;
        begin_change(*e);
        remove_copy(page, *e);
        end_change(*e);
        ++dropped;
        each(page);
    });
    return dropped;
}

cache::invalidation cache::invalidate(std::uint64_t page, std::uint32_t epoch, bool downgrade, std::byte* data_out) noexcept {
    bool had_data = false;
    cache_page* e = entry(page);
    if (e == nullptr) return invalidation::done;
    bump(counters_.invalidations_received);
    spin_guard g(e->lock);
    cache_state s = load_state(*e);
    const bool holds_grant = s == cache_state::shared || s == cache_state::exclusive || s == cache_state::frozen;
    if (holds_grant && epoch < e->grant_epoch) {
        bump(counters_.stale_invalidations);
        return invalidation::stale;
    }
    if (epoch > e->inval_epoch) e->inval_epoch = epoch;
    if (s == cache_state::invalid || s == cache_state::void_copy) {
        // The home, back, recalls the bytes set aside while it could not be reached. A VOID copy
        // (a load failed meanwhile) holds none of them: the set-aside bytes are still the page's.
        // They are sent, and kept: this answer may reach the home after it gave up on the recall
        // (a recall sent during a cut arrives with the heal), and then it is dropped there. Kept,
        // they go with the next recall too, and before this node's next request for the page
        // (send_unsent_home), which releases them whether the home takes them or not.
        if (aside_unsent_.load(std::memory_order_acquire) > 0) {
            spin_guard a(aside_lock_);
            if (aside_bytes* b = find_aside(page)) {
                std::memcpy(data_out, b->bytes, page_size);
                had_data = true;
            }
        }
        if (s == cache_state::invalid) return had_data ? invalidation::sent_bytes : invalidation::done;
    }
    begin_change(*e);
    if (s == cache_state::exclusive || s == cache_state::frozen) {
        // Stop the writers first (this also flushes stale TLB entries), then the bytes are stable.
        window_.write_protect(page);
        std::memcpy(data_out, as_ptr(page), page_size);
        had_data = true;
        given_up_[window_page_of(page)] = e->generation;
    }
    if (downgrade && s != cache_state::void_copy) {
        store_state(*e, cache_state::shared);
        e->grant_epoch = epoch;
    } else {
        remove_copy(page, *e);
    }
    end_change(*e);
    return had_data ? invalidation::sent_bytes : invalidation::done;
}

cache::drop_result cache::begin_drop(std::uint64_t page, bool keep_shared, std::byte* data_out) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return drop_result::none;
    spin_guard g(e->lock);
    cache_state s = load_state(*e);
    switch (s) {
    case cache_state::invalid:
        if (aside_unsent_.load(std::memory_order_acquire) > 0) {
            spin_guard a(aside_lock_);
            if (aside_bytes* b = find_aside(page)) {
                std::memcpy(data_out, b->bytes, page_size);
                return drop_result::needs_writeback; // finish_writeback releases them
            }
        }
        return drop_result::none;
    case cache_state::frozen: return drop_result::none;
    case cache_state::shared:
    case cache_state::void_copy:
        if (keep_shared) return drop_result::none;
        begin_change(*e);
        remove_copy(page, *e);
        end_change(*e);
        return drop_result::dropped;
    case cache_state::exclusive:
        begin_change(*e);
        window_.write_protect(page);
        std::memcpy(data_out, as_ptr(page), page_size);
        store_state(*e, cache_state::frozen);
        end_change(*e);
        return drop_result::needs_writeback;
    }
    return drop_result::none;
}

void cache::finish_writeback(std::uint64_t page, bool keep_shared, std::uint32_t grant_epoch) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return;
    spin_guard g(e->lock);
    release_aside(page);                               // set-aside bytes that just went home
    if (load_state(*e) != cache_state::frozen) return; // an invalidation took the copy meanwhile
    begin_change(*e);
    if (keep_shared && grant_epoch >= e->inval_epoch) {
        store_state(*e, cache_state::shared);
        e->grant_epoch = grant_epoch;
    } else {
        remove_copy(page, *e);
    }
    end_change(*e);
}

bool cache::copy_unsent(std::uint64_t page, std::byte* data_out) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return false;
    spin_guard g(e->lock);
    if (load_state(*e) == cache_state::frozen) {
        std::memcpy(data_out, as_ptr(page), page_size); // write-protected since it froze: stable
        return true;
    }
    if (aside_unsent_.load(std::memory_order_acquire) == 0) return false;
    spin_guard a(aside_lock_);
    aside_bytes* b = find_aside(page);
    if (b == nullptr) return false;
    std::memcpy(data_out, b->bytes, page_size);
    return true;
}

cache::aside_bytes* cache::find_aside(std::uint64_t page) noexcept {
    auto it = aside_.find(page);
    return it != aside_.end() && !it->second->sent ? it->second.get() : nullptr;
}

// Marks the set-aside bytes of `page` as gone home (or no longer wanted). The caller holds the
// page's lock. Does not free (this may run in a signal handler): sweep_aside does.
void cache::release_aside(std::uint64_t page) noexcept {
    if (aside_unsent_.load(std::memory_order_acquire) == 0) return;
    spin_guard a(aside_lock_);
    if (aside_bytes* b = find_aside(page)) {
        b->sent = true;
        aside_unsent_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

std::size_t cache::set_aside_node(node_id n) {
    std::size_t left = 0;
    for_each_present_of(n, [&](std::uint64_t page) {
        cache_page* e = entry(page);
        spin_guard g(e->lock);
        if (std::atomic_ref<std::uint32_t>(e->gate).load(std::memory_order_acquire) != 0) {
            ++left; // a fetch or a write-back is in flight: its outcome decides; look again later
            return;
        }
        const cache_state s = load_state(*e);
        if (s == cache_state::void_copy || s == cache_state::invalid) return;
        begin_change(*e);
        if (s == cache_state::exclusive || s == cache_state::frozen) {
            window_.write_protect(page); // stops the writers; the bytes are stable from here
            auto b = std::make_unique<aside_bytes>();
            std::memcpy(b->bytes, as_ptr(page), page_size);
            spin_guard a(aside_lock_);
            aside_[page] = std::move(b);
            aside_unsent_.fetch_add(1, std::memory_order_acq_rel);
        }
        remove_copy(page, *e);
        end_change(*e);
    });
    return left;
}

std::uint64_t cache::given_up_generation(std::uint64_t page) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr) return 0;
    // Under the lock: a caller that saw the copy gone (an invalidation took it) sees what that
    // invalidation recorded.
    spin_guard g(e->lock);
    return given_up_[window_page_of(page)];
}

void cache::discard_node(node_id n) {
    for_each_present_of(n, [&](std::uint64_t page) {
        cache_page* e = entry(page);
        spin_guard g(e->lock);
        if (load_state(*e) == cache_state::void_copy) return; // it expires as usual
        begin_change(*e);
        remove_copy(page, *e);
        end_change(*e);
    });
    for_each_aside([&](std::uint64_t page) {
        if (node_of(page) != n) return;
        spin_guard g(entry(page)->lock);
        release_aside(page);
    });
    // Its generations start again: a given-up generation of the old one could name a new grant.
    given_up_.zero(std::size_t{n} * pages_per_node, pages_per_node);
}

void cache::sweep_aside() {
    spin_guard a(aside_lock_);
    std::erase_if(aside_, [](const auto& kv) { return kv.second->sent; });
}

void cache::for_each_aside(page_visitor fn) {
    std::vector<std::uint64_t> pages;
    {
        spin_guard a(aside_lock_);
        for (auto& [page, b] : aside_)
            if (!b->sent) pages.push_back(page);
    }
    for (std::uint64_t p : pages) fn(p);
}

std::uint64_t cache::hold_remaining_ns(std::uint64_t page, std::uint64_t hold_ns) noexcept {
    cache_page* e = entry(page);
    if (e == nullptr || hold_ns == 0) return 0;
    spin_guard g(e->lock);
    switch (load_state(*e)) {
    case cache_state::shared:
    case cache_state::exclusive: {
        const std::uint32_t at = std::uint32_t{e->faulted_in_hi} << 16 | e->faulted_in_lo;
        const std::uint64_t age_ns = std::uint64_t{(stamp_now() - at) & stamp_mask} * 1000;
        return age_ns < hold_ns ? hold_ns - age_ns : 0;
    }
    case cache_state::invalid:
    case cache_state::frozen:
    case cache_state::void_copy: break;
    }
    return 0;
}

cache_state cache::state(std::uint64_t page) noexcept {
    cache_page* e = entry(page_floor(page));
    return e != nullptr ? load_state(*e) : cache_state::invalid;
}

cache::snapshot_t cache::snapshot(std::uint64_t page) noexcept {
    snapshot_t out;
    cache_page* e = entry(page_floor(page));
    if (e == nullptr) return out;
    spin_guard g(e->lock);
    out.state = load_state(*e);
    out.generation = e->generation;
    out.grant_epoch = e->grant_epoch;
    return out;
}

void cache::for_each_present(page_visitor fn) {
    for (std::size_t w = 0; w < resident_.size(); ++w) {
        std::uint64_t bits = std::atomic_ref<std::uint64_t>(resident_[w]).load(std::memory_order_relaxed);
        for (; bits != 0; bits &= bits - 1)
            fn(window_base + (w * 64 + static_cast<std::size_t>(std::countr_zero(bits))) * page_size);
    }
}

void cache::for_each_present_of(node_id n, page_visitor fn) {
    const std::size_t first = std::size_t{n} * pages_per_node / 64;
    const std::size_t last = std::min(first + pages_per_node / 64, resident_.size());
    for (std::size_t w = first; w < last; ++w) {
        std::uint64_t bits = std::atomic_ref<std::uint64_t>(resident_[w]).load(std::memory_order_relaxed);
        for (; bits != 0; bits &= bits - 1)
            fn(window_base + (w * 64 + static_cast<std::size_t>(std::countr_zero(bits))) * page_size);
    }
}

std::size_t cache::present_pages() {
    std::size_t n = 0;
    for_each_present([&](std::uint64_t) { ++n; });
    return n;
}

} // namespace aether
