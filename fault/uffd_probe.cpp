// Run-time probe of userfaultfd: which ways of opening one work, and what features and ioctls it grants.
#include "fault/uffd_probe.hpp"

#include "aether/internal/bit_names.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/sysctl.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

// Older uapi headers lack these; the values are kernel ABI.
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

namespace aether::fault {
namespace {

constexpr int uffd_open_flags = O_CLOEXEC | O_NONBLOCK;
constexpr std::size_t probe_pages = 16;

constexpr std::uint64_t bit(unsigned n) noexcept { return std::uint64_t{1} << n; }

// UFFDIO_API's feature bits, named as the uapi header names them (without UFFD_FEATURE_).
constexpr std::array<bit_name, 17> feature_bits = {{
    {UFFD_FEATURE_PAGEFAULT_FLAG_WP, "PAGEFAULT_FLAG_WP"},
    {UFFD_FEATURE_EVENT_FORK, "EVENT_FORK"},
    {UFFD_FEATURE_EVENT_REMAP, "EVENT_REMAP"},
    {UFFD_FEATURE_EVENT_REMOVE, "EVENT_REMOVE"},
    {UFFD_FEATURE_MISSING_HUGETLBFS, "MISSING_HUGETLBFS"},
    {UFFD_FEATURE_MISSING_SHMEM, "MISSING_SHMEM"},
    {UFFD_FEATURE_EVENT_UNMAP, "EVENT_UNMAP"},
    {UFFD_FEATURE_SIGBUS, "SIGBUS"},
    {UFFD_FEATURE_THREAD_ID, "THREAD_ID"},
    {UFFD_FEATURE_MINOR_HUGETLBFS, "MINOR_HUGETLBFS"},
    {UFFD_FEATURE_MINOR_SHMEM, "MINOR_SHMEM"},
    {UFFD_FEATURE_EXACT_ADDRESS, "EXACT_ADDRESS"},
    {UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "WP_HUGETLBFS_SHMEM"},
    {uffd_feature_wp_unpopulated, "WP_UNPOPULATED"},
    {uffd_feature_poison, "POISON"},
    {uffd_feature_wp_async, "WP_ASYNC"},
    {uffd_feature_move, "MOVE"},
}};
static_assert(single_distinct_bits(feature_bits));

// Ioctls as UFFDIO_REGISTER reports them (bit n = ioctl nr n). MOVE (5) and POISON (8) are newer
// than the Debian 12 headers.
constexpr std::array<bit_name, 10> ioctl_bits = {{
    {bit(_UFFDIO_REGISTER), "REGISTER"},
    {bit(_UFFDIO_UNREGISTER), "UNREGISTER"},
    {bit(_UFFDIO_WAKE), "WAKE"},
    {bit(_UFFDIO_COPY), "COPY"},
    {bit(_UFFDIO_ZEROPAGE), "ZEROPAGE"},
    {bit(0x05), "MOVE"},
    {bit(_UFFDIO_WRITEPROTECT), "WRITEPROTECT"},
    {bit(_UFFDIO_CONTINUE), "CONTINUE"},
    {bit(0x08), "POISON"},
    {bit(_UFFDIO_API), "API"},
}};
static_assert(single_distinct_bits(ioctl_bits));

std::string errno_text(int err) { return std::strerror(err); }

int open_dev_userfaultfd() noexcept {
    int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) return -errno;
    int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, uffd_open_flags);
    int err = errno;
    ::close(dev);
    return fd >= 0 ? fd : -err;
}

int open_syscall_userfaultfd(int extra_flags) noexcept {
    long fd = ::syscall(SYS_userfaultfd, uffd_open_flags | extra_flags);
    return fd >= 0 ? static_cast<int>(fd) : -errno;
}

bool any_userfaultfd(const uffd_capabilities& c) noexcept {
    return c.dev_userfaultfd || c.syscall_kernel_faults || c.syscall_user_only;
}

std::string unavailable_sentence(const uffd_capabilities& c) {
    std::string s = "userfaultfd cannot be opened at all (kernel without CONFIG_USERFAULTFD, or "
                    "blocked by seccomp or a container)";
    if (!c.error.empty()) s += ": " + c.error;
    return s;
}

// What one fault mode lacks: handler mode needs faults inside system calls served, sigbus mode
// needs UFFD_FEATURE_SIGBUS instead; the rest is common.
std::vector<std::string> missing_for(const uffd_capabilities& c, bool sigbus_mode) {
    std::vector<std::string> out;
    if (!any_userfaultfd(c)) {
        out.push_back(unavailable_sentence(c));
        return out;
    }
    if (!sigbus_mode && !c.dev_userfaultfd && !c.syscall_kernel_faults)
        out.emplace_back("userfaultfd cannot serve faults raised inside system calls: open "
                         "/dev/userfaultfd (root or an ACL on it) or set vm.unprivileged_userfaultfd=1");
    if (!(c.api_features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
        out.emplace_back("userfaultfd lacks UFFD_FEATURE_PAGEFAULT_FLAG_WP: write-protect faults need "
                         "Linux 5.7+ on an architecture with userfaultfd write-protect support");
    if (!(c.api_features & UFFD_FEATURE_THREAD_ID))
        out.emplace_back("userfaultfd lacks UFFD_FEATURE_THREAD_ID: fault messages do not name the "
                         "faulting thread (Linux 4.14+)");
    if (sigbus_mode && !(c.api_features & UFFD_FEATURE_SIGBUS))
        out.emplace_back("userfaultfd lacks UFFD_FEATURE_SIGBUS: faults cannot be delivered as SIGBUS "
                         "(Linux 4.14+)");
    if (!c.register_missing_wp) {
        // The granted ioctls are unknown without a registration, so they are not listed one by one.
        out.emplace_back("anonymous memory cannot be registered with userfaultfd for MISSING and WP "
                         "faults (UFFDIO_REGISTER failed)");
        return out;
    }
    if (!(c.register_ioctls & bit(_UFFDIO_COPY)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_COPY: missing pages cannot be filled");
    if (!(c.register_ioctls & bit(_UFFDIO_WAKE)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_WAKE: faulting threads cannot be woken");
    if (!(c.register_ioctls & bit(_UFFDIO_WRITEPROTECT)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_WRITEPROTECT: pages cannot be "
                         "write-protected");
    return out;
}

} // namespace

int open_userfaultfd(bool kernel_faults) noexcept {
    int fd = open_dev_userfaultfd();
    if (fd >= 0) return fd;
    fd = open_syscall_userfaultfd(0);
    if (fd >= 0 || kernel_faults) return fd;
    return open_syscall_userfaultfd(UFFD_USER_MODE_ONLY);
}

uffd_capabilities probe_uffd() noexcept {
    uffd_capabilities c;
    auto note = [&c](const char* what, int err) {
        if (c.error.empty()) c.error = std::string(what) + ": " + errno_text(err);
    };

    c.unprivileged_sysctl = read_sysctl("/proc/sys/vm/unprivileged_userfaultfd");

    // Each way of opening is tried on its own: the report says which work, not just the first.
    if (int fd = open_dev_userfaultfd(); fd >= 0) {
        c.dev_userfaultfd = true;
        ::close(fd);
    } else {
        note("open /dev/userfaultfd", -fd);
    }
    if (int fd = open_syscall_userfaultfd(0); fd >= 0) {
        c.syscall_kernel_faults = true;
        ::close(fd);
    } else {
        note("userfaultfd(2)", -fd);
    }
    if (int fd = open_syscall_userfaultfd(UFFD_USER_MODE_ONLY); fd >= 0) {
        c.syscall_user_only = true;
        ::close(fd);
    } else {
        note("userfaultfd(2) with UFFD_USER_MODE_ONLY", -fd);
    }
    if (!any_userfaultfd(c)) return c;

    // A fresh userfaultfd after UFFDIO_API asking for `features` (the features on offer land in
    // `offered`); empty, with the failing step noted, if either step fails. UFFDIO_API succeeds
    // only once per fd, so each question spends a descriptor of its own.
    auto open_with_api = [&](std::uint64_t features, const char* open_step, const char* api_step, std::uint64_t* offered) {
        unique_fd fd{open_userfaultfd(false)};
        if (!fd) {
            note(open_step, -fd.get());
            return unique_fd{};
        }
        uffdio_api api{};
        api.api = UFFD_API;
        api.features = features;
        if (::ioctl(fd.get(), UFFDIO_API, &api) < 0) {
            note(api_step, errno);
            return unique_fd{};
        }
        if (offered != nullptr) *offered = api.features;
        return fd;
    };

    // Asking for nothing reports everything on offer.
    if (!open_with_api(0, "userfaultfd for UFFDIO_API", "UFFDIO_API", &c.api_features)) return c;
    unique_fd fd = open_with_api(c.api_features & (UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID),
                                 "userfaultfd for UFFDIO_REGISTER", "UFFDIO_API with PAGEFAULT_FLAG_WP|THREAD_ID", nullptr);
    if (!fd) return c;

    long page = ::sysconf(_SC_PAGESIZE);
    std::size_t len = probe_pages * static_cast<std::size_t>(page > 0 ? page : 4096);
    void* mem = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        note("mmap for UFFDIO_REGISTER", errno);
        return c;
    }
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<std::uintptr_t>(mem);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(fd.get(), UFFDIO_REGISTER, &reg) == 0) {
        c.register_missing_wp = true;
        c.register_ioctls = reg.ioctls;
        uffdio_range range = reg.range;
        ::ioctl(fd.get(), UFFDIO_UNREGISTER, &range);
    } else {
        note("UFFDIO_REGISTER (MISSING|WP, anonymous memory)", errno);
    }
    ::munmap(mem, len);
    return c;
}

std::vector<std::string> missing_for_handler_mode(const uffd_capabilities& c) { return missing_for(c, false); }

std::vector<std::string> missing_for_sigbus_mode(const uffd_capabilities& c) { return missing_for(c, true); }

std::string feature_names(std::uint64_t features) { return bit_names(features, feature_bits); }

std::string ioctl_names(std::uint64_t ioctls) { return bit_names(ioctls, ioctl_bits); }

} // namespace aether::fault
