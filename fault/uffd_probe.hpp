// What the kernel's userfaultfd offers, probed at run time (never assumed from compile-time headers).
//
// Used by the runtime at start-up (it refuses to start when something it needs is missing, saying
// what) and by `aetherctl probe`.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace aether::fault {

// Feature bits newer than the Debian 12 uapi headers (values from the kernel's uapi).
inline constexpr std::uint64_t uffd_feature_wp_unpopulated = 1ull << 13;
inline constexpr std::uint64_t uffd_feature_poison = 1ull << 14;
inline constexpr std::uint64_t uffd_feature_wp_async = 1ull << 15;
inline constexpr std::uint64_t uffd_feature_move = 1ull << 16;

struct uffd_capabilities {
    bool dev_userfaultfd = false;       // /dev/userfaultfd opened: serves kernel-mode faults
    bool syscall_kernel_faults = false; // userfaultfd(2) without UFFD_USER_MODE_ONLY works
    bool syscall_user_only = false;     // userfaultfd(2) with UFFD_USER_MODE_ONLY works
    int unprivileged_sysctl = -1;       // vm.unprivileged_userfaultfd (-1: unreadable)
    std::uint64_t api_features = 0;     // UFFDIO_API: every feature the kernel offers
    std::uint64_t register_ioctls = 0;  // UFFDIO_REGISTER(MISSING|WP) on anonymous memory: ioctls granted
    bool register_missing_wp = false;   // that registration succeeded
    std::string error;                  // the first failure met, for messages
};

uffd_capabilities probe_uffd() noexcept;

// Human-readable items missing for each fault mode; empty when the mode can run.
// Handler mode needs kernel-mode faults served, MISSING + WP on anonymous memory, UFFDIO_COPY (with
// MODE_WP), UFFDIO_WRITEPROTECT, UFFDIO_WAKE and UFFD_FEATURE_THREAD_ID. SIGBUS mode also needs
// UFFD_FEATURE_SIGBUS (kernel-mode faults are not needed there).
std::vector<std::string> missing_for_handler_mode(const uffd_capabilities& c);
std::vector<std::string> missing_for_sigbus_mode(const uffd_capabilities& c);

// "PAGEFAULT_FLAG_WP|SIGBUS|..." for a feature mask; unknown bits as hex.
std::string feature_names(std::uint64_t features);

// "WAKE|COPY|WRITEPROTECT|..." for an ioctl mask (bit n is the ioctl numbered n, as UFFDIO_REGISTER
// reports it); unknown bits as hex.
std::string ioctl_names(std::uint64_t ioctls);

// Opens a userfaultfd, O_CLOEXEC | O_NONBLOCK. kernel_faults: one that also serves faults raised
// inside system calls (/dev/userfaultfd first, then the syscall without UFFD_USER_MODE_ONLY);
// otherwise UFFD_USER_MODE_ONLY is acceptable. Returns the fd or -errno. UFFDIO_API not yet called.
int open_userfaultfd(bool kernel_faults) noexcept;

} // namespace aether::fault
