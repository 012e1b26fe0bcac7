// fork_support: fork() of a node whose malloc is served from its own Aether memory (AETHER_HEAP=1),
// so that the child gets a private copy of that memory as it was at the fork, as with any heap.
//
// The window is MADV_DONTFORK (fault/window.cpp): a child of a C-API program has no window. With
// the preload heap the child needs the heap, so around the fork the window (and the home store,
// where this node keeps the bytes of its pages that its window does not hold) is made DOFORK. The
// child's copy of the window is no longer registered with userfaultfd (the runtime does not ask
// for UFFD_FEATURE_EVENT_FORK): pages the parent held are copied, absent ones read as zeros. So
// the child fills in each page of this node's memory its window did not hold from its copy of the
// home store, whose bytes are then current: before the fork, pages another node holds exclusive
// are brought back, and the service thread is held still so that no request changes a page while
// the address space is copied. Other nodes' memory is unmapped in the child: a forked child is
// not a node, and rather than read a stale copy a stray access there fails with SIGSEGV.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstddef>
#include <cstdint>

namespace aether {

class runtime;

class fork_support {
public:
    constexpr fork_support() = default;

    // In the parent before fork(), with the heap's lock held.
    void prepare(runtime& r) noexcept;
    // In the parent after fork() (whether it succeeded or not).
    void in_parent() noexcept;
    // In the child, before anything else touches the node's memory.
    void in_child() noexcept;

private:
    void bring_back(runtime& r) noexcept;
    bool hold_service_thread(runtime& r) noexcept;
    void set_fork_copy(bool on) noexcept;

    bool prepared_ = false;
    std::uint32_t park_ = 0;         // futex word shared with the held service thread (see .cpp)
    std::uint64_t own_begin_ = 0;    // this node's part of the window
    std::uint64_t window_begin_ = 0; // the whole window
    std::uint64_t window_end_ = 0;
    std::uint64_t home_begin_ = 0; // the home store's bytes of this node's pages, page by page
    std::size_t home_bytes_ = 0;
};

} // namespace aether
