// Run-time probe of userfaultfd: which ways of opening one work, and what features and ioctls it grants.
#include "fault/uffd_probe.hpp"

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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

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

// Bit n of UFFDIO_API's feature mask, named as the uapi header names it (without UFFD_FEATURE_).
constexpr std::array<std::string_view, 17> feature_bit_names = {
    "PAGEFAULT_FLAG_WP", "EVENT_FORK",        "EVENT_REMAP",       "EVENT_REMOVE",
    "MISSING_HUGETLBFS", "MISSING_SHMEM",     "EVENT_UNMAP",       "SIGBUS",
    "THREAD_ID",         "MINOR_HUGETLBFS",   "MINOR_SHMEM",       "EXACT_ADDRESS",
    "WP_HUGETLBFS_SHMEM", "WP_UNPOPULATED",   "POISON",            "WP_ASYNC",
    "MOVE",
};

// Ioctl numbers as UFFDIO_REGISTER reports them (bit n = ioctl nr n). MOVE (5) and POISON (8) are
// newer than the Debian 12 headers.
struct ioctl_bit {
    unsigned nr;
    std::string_view name;
};
constexpr std::array<ioctl_bit, 10> ioctl_bits = {{
    {_UFFDIO_REGISTER, "REGISTER"},
    {_UFFDIO_UNREGISTER, "UNREGISTER"},
    {_UFFDIO_WAKE, "WAKE"},
    {_UFFDIO_COPY, "COPY"},
    {_UFFDIO_ZEROPAGE, "ZEROPAGE"},
    {0x05, "MOVE"},
    {_UFFDIO_WRITEPROTECT, "WRITEPROTECT"},
    {_UFFDIO_CONTINUE, "CONTINUE"},
    {0x08, "POISON"},
    {_UFFDIO_API, "API"},
}};

constexpr std::uint64_t bit(unsigned n) noexcept { return std::uint64_t{1} << n; }

std::string errno_text(int err) { return std::strerror(err); }

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

void append_name(std::string& out, std::string_view name) {
    if (!out.empty()) out += '|';
    out += name;
}

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


// Shared by both modes: everything except how faults inside system calls are served.
void add_common_missing(const uffd_capabilities& c, bool sigbus_mode, std::vector<std::string>& out) {
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
        return;
    }
    if (!(c.register_ioctls & bit(_UFFDIO_COPY)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_COPY: missing pages cannot be filled");
    if (!(c.register_ioctls & bit(_UFFDIO_WAKE)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_WAKE: faulting threads cannot be woken");
    if (!(c.register_ioctls & bit(_UFFDIO_WRITEPROTECT)))
        out.emplace_back("UFFDIO_REGISTER did not grant UFFDIO_WRITEPROTECT: pages cannot be "
                         "write-protected");
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

    // UFFDIO_API succeeds only once per fd, so asking for nothing (which reports everything on
    // offer) spends a descriptor of its own.
    {
        unique_fd fd{open_userfaultfd(false)};
        if (!fd) {
            note("userfaultfd for UFFDIO_API", -fd.get());
            return c;
        }
        uffdio_api api{};
        api.api = UFFD_API;
        if (::ioctl(fd.get(), UFFDIO_API, &api) < 0) {
            note("UFFDIO_API", errno);
            return c;
        }
        c.api_features = api.features;
    }

    unique_fd fd{open_userfaultfd(false)};
    if (!fd) {
        note("userfaultfd for UFFDIO_REGISTER", -fd.get());
        return c;
    }
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = c.api_features & (UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID);
    if (::ioctl(fd.get(), UFFDIO_API, &api) < 0) {
        note("UFFDIO_API with PAGEFAULT_FLAG_WP|THREAD_ID", errno);
        return c;
    }

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

std::vector<std::string> missing_for_handler_mode(const uffd_capabilities& c) {
    std::vector<std::string> out;
    if (!any_userfaultfd(c)) {
        out.push_back(unavailable_sentence(c));
        return out;
    }
    if (!c.dev_userfaultfd && !c.syscall_kernel_faults)
        out.emplace_back("userfaultfd cannot serve faults raised inside system calls: open "
                         "/dev/userfaultfd (root or an ACL on it) or set vm.unprivileged_userfaultfd=1");
    add_common_missing(c, false, out);
    return out;
}

std::vector<std::string> missing_for_sigbus_mode(const uffd_capabilities& c) {
    std::vector<std::string> out;
    if (!any_userfaultfd(c)) {
        out.push_back(unavailable_sentence(c));
        return out;
    }
    add_common_missing(c, true, out);
    return out;
}

std::string feature_names(std::uint64_t features) {
    std::string out;
    for (unsigned n = 0; n < feature_bit_names.size(); ++n)
        if (features & bit(n)) append_name(out, feature_bit_names[n]);
    std::uint64_t unknown = features & ~(bit(feature_bit_names.size()) - 1);
    if (unknown) append_name(out, hex(unknown));
    return out;
}

std::string ioctl_names(std::uint64_t ioctls) {
    std::string out;
    std::uint64_t known = 0;
    for (const ioctl_bit& b : ioctl_bits) {
        known |= bit(b.nr);
        if (ioctls & bit(b.nr)) append_name(out, b.name);
    }
    if (std::uint64_t unknown = ioctls & ~known) append_name(out, hex(unknown));
    return out;
}

} // namespace aether::fault
