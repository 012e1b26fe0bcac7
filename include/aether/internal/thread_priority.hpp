// How the runtime's own threads (service loops, fault handlers) are scheduled against the
// application's.
//
// A DSM program commonly waits for a flag by spinning on it. On a machine with as many spinning
// threads as CPUs, a runtime thread that must run to answer a request (a home serving a fault, a
// cache giving up a copy) waits for the scheduler to take a CPU from a spinner: under the kernel's
// fair scheduler that is up to a time slice (milliseconds) per hand-off, and a round of a
// two-node token pass costs a dozen of them (docs/performance.md, "token_pass_round"). Real-time
// priority (SCHED_FIFO, the lowest level) lets a runtime thread preempt ordinary threads as soon
// as it is woken. It needs CAP_SYS_NICE or a non-zero RLIMIT_RTPRIO (`ulimit -r`), as audio servers
// do; without them the threads run as ordinary threads.
#pragma once
#include "aether/internal/guard.hpp"

#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace aether {

enum class thread_priority : std::uint8_t {
    automatic, // real-time when the process may, ordinary otherwise
    normal,    // ordinary threads (SCHED_OTHER)
    realtime,  // real-time, and init fails when the process may not
};

inline const char* to_string(thread_priority p) noexcept {
    switch (p) {
    case thread_priority::normal: return "normal";
    case thread_priority::realtime: return "realtime";
    case thread_priority::automatic: break;
    }
    return "auto";
}

// The lowest real-time level: above every ordinary thread, below anything a system runs real-time.
inline constexpr int runtime_realtime_level = 1;

// Applies `p` to the calling thread. Returns whether it runs real-time now.
inline bool apply_thread_priority(thread_priority p) noexcept {
    if (p == thread_priority::normal) return false;
    sched_param sp{};
    sp.sched_priority = runtime_realtime_level;
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
}

// Whether this process may make its threads real-time: it has CAP_SYS_NICE, or RLIMIT_RTPRIO
// allows the level used.
inline bool may_run_realtime() noexcept {
    rlimit rl{};
    if (getrlimit(RLIMIT_RTPRIO, &rl) == 0 && rl.rlim_cur >= static_cast<rlim_t>(runtime_realtime_level)) return true;
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    return (data[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))) != 0;
}

} // namespace aether
