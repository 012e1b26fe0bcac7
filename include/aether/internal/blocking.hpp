// A thread that is about to block, waiting on another node or another thread, says so first.
//
// The fault-handler pool (fault/handler_pool.hpp) uses it like Go's scheduler hands its processor
// to another thread when a goroutine enters a blocking system call: a handler thread that must
// wait (for a slow or dead node, for a page another thread is fetching, for the block policy's
// retry) first hands the reading of new faults to another thread, so faults on healthy nodes are
// not queued behind it. A fault answered within the requester's short poll never blocks, so the
// common path pays nothing.
//
// Every wait the runtime makes on another party calls about_to_block() right before it sleeps.
// Threads without an observer (application threads, the service thread) pay one thread-local load.
#pragma once
#include "aether/internal/guard.hpp"

namespace aether {

class blocking_observer {
public:
    // Runs on the thread that is about to block, before it does. Must not block itself.
    virtual void about_to_block() noexcept = 0;

protected:
    ~blocking_observer() = default;
};

// The calling thread's observer (null for threads that have none).
inline thread_local blocking_observer* tl_blocking_observer = nullptr;

inline void about_to_block() noexcept {
    if (blocking_observer* o = tl_blocking_observer) o->about_to_block();
}

} // namespace aether
