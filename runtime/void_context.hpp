// The thread's VOID context: the reason and the address of the last operation that yielded VOID.
//
// An explicit call sets its own thread's context. A plain load served by the fault-handler thread
// sets the context of the thread that faulted, through a small table indexed by thread id; the
// newer of the two is what the thread sees.
//
// A load of a VOID page that is already installed does not fault: no code of the runtime runs for
// it, so nothing can name the thread that read 0xFF. While VOID pages stand, the newest one is
// recorded for the whole process, and a thread whose own context is older than it (and who has
// not cleared its context since) sees that one. A thread that clears its context and then reads a
// VOID page installed before the clear, without faulting, sees NONE.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/result.hpp"

#include <sys/types.h>

#include <cstdint>

namespace aether {

struct void_context {
    void_reason reason = void_reason::none;
    std::uint64_t addr = 0;
};

void set_void_context(void_reason reason, std::uint64_t addr) noexcept;

// Where a fault stands among all context writes: taken when its resolution starts, it orders the
// fault after everything its thread did before the access (an explicit call, a clear) and after
// every fault the kernel reported before it (async-signal-safe).
std::uint64_t void_context_ticket() noexcept;
// Sets the context of another thread of this process for the fault that took `ticket`, unless a
// later fault of that thread has set it already (async-signal-safe). The kernel can report one
// access twice (a thread woken in its fault retries it and faults again), and the second report
// can be resolved after the thread moved on to its next access: that resolution must not put the
// old address back over the newer one.
void set_void_context_for(pid_t tid, void_reason reason, std::uint64_t addr, std::uint64_t ticket) noexcept;
void_context current_void_context() noexcept;
// A VOID page was installed for a load of `addr` by the fault that took `ticket` (async-signal-safe;
// an older fault's does not replace it), and the last one went.
void note_standing_void_page(void_reason reason, std::uint64_t addr, std::uint64_t ticket) noexcept;
void clear_standing_void_pages() noexcept;
void clear_void_context() noexcept;

// How many accesses of this process yielded VOID with `reason` (every set_void_context and
// set_void_context_for above counts one): aetherctl stats, the metrics, and the service thread's
// rate-limited log line. Async-signal-safe.
inline constexpr std::size_t void_reason_count = static_cast<std::size_t>(void_reason::corruption) + 1;
std::uint64_t voids_with(void_reason reason) noexcept;

} // namespace aether
