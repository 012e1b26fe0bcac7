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
// Sets the context of another thread of this process (async-signal-safe).
void set_void_context_for(pid_t tid, void_reason reason, std::uint64_t addr) noexcept;
void_context current_void_context() noexcept;
// A VOID page was installed for a load of `addr` (async-signal-safe), and the last one went.
void note_standing_void_page(void_reason reason, std::uint64_t addr) noexcept;
void clear_standing_void_pages() noexcept;
void clear_void_context() noexcept;

} // namespace aether
