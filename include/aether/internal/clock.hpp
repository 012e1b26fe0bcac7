// Monotonic time and deadlines: every remote operation carries one.
#pragma once
#include "aether/internal/guard.hpp"

#include <linux/time_types.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <chrono>
#include <cstdint>

namespace aether {

using mono_clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

inline std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<nanoseconds>(mono_clock::now().time_since_epoch()).count());
}

// Whether the CPU's time-stamp counter runs at a constant rate whatever the power state (CPUID
// 0x80000007, EDX bit 8): only then do its ticks measure time.
inline bool cpu_has_invariant_tsc() noexcept {
#if defined(__x86_64__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007u) return false;
    if (__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (edx & (1u << 8)) != 0;
#else
    return false;
#endif
}

// An absolute point in monotonic time after which an operation is VOID (TIMEOUT).
class deadline {
public:
    constexpr deadline() noexcept = default;
    static deadline after(milliseconds d) noexcept {
        return deadline(now_ns() + static_cast<std::uint64_t>(d.count()) * 1'000'000u);
    }
    static deadline after_ns(std::uint64_t ns) noexcept { return deadline(now_ns() + ns); }
    static constexpr deadline never() noexcept { return deadline(UINT64_MAX); }

    [[nodiscard]] std::uint64_t ns() const noexcept { return at_; }
    [[nodiscard]] bool expired() const noexcept { return now_ns() >= at_; }
    [[nodiscard]] std::uint64_t remaining_ns() const noexcept {
        auto now = now_ns();
        return now >= at_ ? 0 : at_ - now;
    }
    [[nodiscard]] int remaining_ms_for_poll() const noexcept {
        auto r = remaining_ns();
        if (at_ == UINT64_MAX) return -1;
        return static_cast<int>((r + 999'999) / 1'000'000);
    }
    // Relative timespec for io_uring waits, clamped to [0, remaining].
    [[nodiscard]] __kernel_timespec remaining_timespec() const noexcept {
        auto r = remaining_ns();
        return __kernel_timespec{static_cast<long long>(r / 1'000'000'000u), static_cast<long long>(r % 1'000'000'000u)};
    }
    friend bool operator<(deadline a, deadline b) noexcept { return a.at_ < b.at_; }
    friend deadline earlier(deadline a, deadline b) noexcept { return a.at_ < b.at_ ? a : b; }

private:
    constexpr explicit deadline(std::uint64_t at) noexcept
        : at_(at) {}
    std::uint64_t at_ = UINT64_MAX;
};

} // namespace aether
