// Around fork(): the node's own memory reaches the child with the bytes it had at the fork.
#include "runtime/preload/fork_support.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "aether/internal/sync.hpp"
#include "runtime/runtime.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace aether {

namespace {

// The park word, between the forking thread and the service thread it holds still.
enum park_state : std::uint32_t {
    asked = 0,            // the hold task is posted
    held = 1,             // the service thread waits for the fork to be done
    bring_back_first = 2, // another node holds a page exclusive: bring it back, then ask again
    released = 3,         // the fork is done (or the forking thread stopped waiting)
};

// A page another node keeps taking back exclusive is brought back this often; then the fork goes
// ahead, and the child sees the bytes the home had when that node took the page.
constexpr int bring_back_rounds = 3;

// The runtime's own calls go straight to the kernel (the library interposes madvise/munmap).
long raw_madvise(std::uint64_t addr, std::size_t len, int advice) noexcept { return ::syscall(SYS_madvise, addr, len, advice); }
long raw_munmap(std::uint64_t addr, std::size_t len) noexcept { return ::syscall(SYS_munmap, addr, len); }

bool all_zero(const std::byte* p) noexcept {
    const auto* w = reinterpret_cast<const std::uint64_t*>(p);
    for (std::size_t i = 0; i < page_size / sizeof *w; ++i)
        if (w[i] != 0) return false;
    return true;
}

} // namespace

void fork_support::prepare(runtime& r) noexcept {
    runtime_scope scope; // anything allocated here comes from the C library
    for (int round = 0; round < bring_back_rounds; ++round) {
        if (r.node_count() > 1) bring_back(r);
        if (hold_service_thread(r)) break;
    }
    home_store& home = r.local_node().home();
    own_begin_ = make_addr(r.self(), 0);
    window_begin_ = window_base;
    window_end_ = window_base + std::uint64_t{r.node_count()} * node_span;
    home_begin_ = reinterpret_cast<std::uint64_t>(home.bytes(0));
    home_bytes_ = home.capacity_bytes();
    set_fork_copy(true);
    prepared_ = true;
}

// A shared copy here of every page another node holds exclusive: the read recalls the owner's
// bytes to the home (the owner keeps a read-only copy), so the home store holds them at the fork.
void fork_support::bring_back(runtime& r) noexcept {
    try {
        for (std::uint64_t page : r.local_node().pages_owned_elsewhere(SIZE_MAX)) {
            std::byte b;
            std::uint64_t failed_at = 0;
            // An owner that cannot be reached leaves the home's last bytes to the child.
            (void)r.read(page, &b, 1, &failed_at);
        }
    } catch (...) {
        // Out of memory listing the pages: the child sees the home's bytes for them.
    }
}

// Holds the service thread still until in_parent(): while the address space is copied no request
// from another node changes a page, so the window the child gets and its home store agree (no
// copy half dropped with its bytes not yet home). False when a page another node holds exclusive
// must be brought back first (the service thread was then not held).
bool fork_support::hold_service_thread(runtime& r) noexcept {
    std::atomic_ref<std::uint32_t> park(park_);
    park.store(asked, std::memory_order_release);
    node& n = r.local_node();
    const bool others = r.node_count() > 1;
    const std::uint32_t hold_ms = std::max<std::uint32_t>(r.timeout_ms(), 1000);
    std::uint32_t* word = &park_;
    try {
        n.exec().post([word, &n, others, hold_ms] {
            std::atomic_ref<std::uint32_t> w(*word);
            std::uint32_t expected = asked;
            if (others && !n.pages_owned_elsewhere(1).empty()) {
                if (w.compare_exchange_strong(expected, bring_back_first)) futex_wake_all(*word);
                return;
            }
            if (!w.compare_exchange_strong(expected, held)) return; // the forking thread stopped waiting
            futex_wake_all(*word);
            // Should the parent never say the fork is done, the node goes on after a while.
            futex_wait_until(*word, held, deadline::after(milliseconds(hold_ms)));
        });
    } catch (...) {
        return true; // cannot post: go ahead without holding it
    }
    futex_wait_until(park_, asked, deadline::after(milliseconds(hold_ms)));
    std::uint32_t expected = asked;
    if (park.compare_exchange_strong(expected, released)) return true; // no answer: go ahead
    return expected != bring_back_first;
}

void fork_support::set_fork_copy(bool on) noexcept {
    const int advice = on ? MADV_DOFORK : MADV_DONTFORK;
    raw_madvise(window_begin_, window_end_ - window_begin_, advice);
    if (home_bytes_ > 0) raw_madvise(home_begin_, home_bytes_, advice);
}

void fork_support::in_parent() noexcept {
    if (!prepared_) return;
    prepared_ = false;
    set_fork_copy(false); // C-API programs' default: a child has no window
    std::atomic_ref<std::uint32_t>(park_).store(released, std::memory_order_release);
    futex_wake_all(park_);
}

void fork_support::in_child() noexcept {
    if (!prepared_) return;
    prepared_ = false;
    // Each page of this node's memory the parent's window did not hold: the home store's bytes are
    // its bytes. (A page whose home bytes were never touched reads as zeros either way.)
    const auto* home = reinterpret_cast<const std::byte*>(home_begin_);
    auto* own = reinterpret_cast<std::byte*>(own_begin_);
    const std::size_t pages = home_bytes_ / page_size;
    constexpr std::size_t step = 1024;
    unsigned char in_home[step];
    unsigned char in_window[step];
    for (std::size_t i = 0; i < pages; i += step) {
        const std::size_t n = std::min(step, pages - i);
        if (::mincore(const_cast<std::byte*>(home) + i * page_size, n * page_size, in_home) != 0) continue;
        if (std::none_of(in_home, in_home + n, [](unsigned char c) { return (c & 1) != 0; })) continue;
        if (::mincore(own + i * page_size, n * page_size, in_window) != 0) continue;
        for (std::size_t k = 0; k < n; ++k) {
            const std::byte* src = home + (i + k) * page_size;
            if ((in_home[k] & 1) != 0 && (in_window[k] & 1) == 0 && !all_zero(src))
                std::memcpy(own + (i + k) * page_size, src, page_size);
        }
    }
    // What the child cannot use: the home store, and other nodes' memory.
    if (home_bytes_ > 0) raw_munmap(home_begin_, home_bytes_);
    if (own_begin_ > window_begin_) raw_munmap(window_begin_, own_begin_ - window_begin_);
    if (own_begin_ + node_span < window_end_) raw_munmap(own_begin_ + node_span, window_end_ - own_begin_ - node_span);
}

} // namespace aether
