// userfaultfd probe: checked against independent calls into the kernel on this machine.
#include "fault/uffd_probe.hpp"

#include "fd_count.hpp"
#include "text.hpp"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace fault = aether::fault;

namespace {

// Features offered by the kernel, asked directly (0 when no userfaultfd can be opened).
std::uint64_t direct_api_features() {
    int fd = -1;
    if (int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC); dev >= 0) {
        fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
        ::close(dev);
    }
    if (fd < 0) fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
    if (fd < 0) return 0;
    uffdio_api api{};
    api.api = UFFD_API;
    std::uint64_t features = ::ioctl(fd, UFFDIO_API, &api) == 0 ? api.features : 0;
    ::close(fd);
    return features;
}

bool dev_userfaultfd_opens() {
    int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) return false;
    int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
    ::close(dev);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
}

// What a fully capable kernel reports; tests take pieces away.
fault::uffd_capabilities capable() {
    fault::uffd_capabilities c;
    c.dev_userfaultfd = true;
    c.syscall_kernel_faults = true;
    c.syscall_user_only = true;
    c.api_features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_SIGBUS | UFFD_FEATURE_THREAD_ID;
    c.register_missing_wp = true;
    c.register_ioctls = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_WRITEPROTECT);
    return c;
}

} // namespace

TEST_CASE("probe_uffd agrees with a direct UFFDIO_API call", "[uffd]") {
    fault::uffd_capabilities c = fault::probe_uffd();
    REQUIRE(c.dev_userfaultfd == dev_userfaultfd_opens());
    if (::geteuid() == 0) REQUIRE(c.dev_userfaultfd); // this test machine runs as root

    std::uint64_t direct = direct_api_features();
    REQUIRE(direct != 0);
    REQUIRE(c.api_features == direct);
    REQUIRE((c.api_features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0);
    REQUIRE((c.api_features & UFFD_FEATURE_SIGBUS) != 0);
    REQUIRE((c.api_features & UFFD_FEATURE_THREAD_ID) != 0);

    REQUIRE(c.register_missing_wp);
    REQUIRE((c.register_ioctls & (1ull << _UFFDIO_COPY)) != 0);
    REQUIRE((c.register_ioctls & (1ull << _UFFDIO_WAKE)) != 0);
    REQUIRE((c.register_ioctls & (1ull << _UFFDIO_WRITEPROTECT)) != 0);
    // CONTINUE is only granted for MINOR registrations; its absence shows the mask is the real one.
    REQUIRE((c.register_ioctls & (1ull << _UFFDIO_CONTINUE)) == 0);

    REQUIRE(c.unprivileged_sysctl >= 0);
    REQUIRE(fault::missing_for_handler_mode(c).empty());
    REQUIRE(fault::missing_for_sigbus_mode(c).empty());
}

TEST_CASE("probe_uffd reads vm.unprivileged_userfaultfd", "[uffd]") {
    int expected = -1;
    if (FILE* f = std::fopen("/proc/sys/vm/unprivileged_userfaultfd", "r")) {
        if (std::fscanf(f, "%d", &expected) != 1) expected = -1;
        std::fclose(f);
    }
    REQUIRE(fault::probe_uffd().unprivileged_sysctl == expected);
}

TEST_CASE("probe_uffd closes every descriptor it opens", "[uffd]") {
    int before = open_fd_count();
    REQUIRE(before >= 0);
    (void)fault::probe_uffd();
    (void)fault::probe_uffd();
    REQUIRE(open_fd_count() == before);
}

TEST_CASE("open_userfaultfd returns a usable non-blocking close-on-exec fd", "[uffd]") {
    for (bool kernel_faults : {true, false}) {
        int fd = fault::open_userfaultfd(kernel_faults);
        REQUIRE(fd >= 0);
        REQUIRE((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        uffdio_api api{};
        api.api = UFFD_API;
        REQUIRE(::ioctl(fd, UFFDIO_API, &api) == 0);
        // A second UFFDIO_API on the same fd is refused: the probe must not rely on repeating it.
        REQUIRE(::ioctl(fd, UFFDIO_API, &api) != 0);
        ::close(fd);
    }
}

TEST_CASE("missing_for_handler_mode names what a weaker kernel lacks", "[uffd]") {
    REQUIRE(fault::missing_for_handler_mode(capable()).empty());
    REQUIRE(fault::missing_for_sigbus_mode(capable()).empty());

    SECTION("user-mode-only userfaultfd: handler mode needs kernel faults, sigbus mode does not") {
        fault::uffd_capabilities c = capable();
        c.dev_userfaultfd = false;
        c.syscall_kernel_faults = false;
        auto missing = fault::missing_for_handler_mode(c);
        REQUIRE(missing.size() == 1);
        REQUIRE(missing[0] == "userfaultfd cannot serve faults raised inside system calls: open "
                              "/dev/userfaultfd (root or an ACL on it) or set vm.unprivileged_userfaultfd=1");
        REQUIRE(fault::missing_for_sigbus_mode(c).empty());
    }
    SECTION("no write-protect support") {
        fault::uffd_capabilities c = capable();
        c.api_features &= ~std::uint64_t{UFFD_FEATURE_PAGEFAULT_FLAG_WP};
        c.register_ioctls &= ~(1ull << _UFFDIO_WRITEPROTECT);
        auto missing = fault::missing_for_handler_mode(c);
        REQUIRE(missing.size() == 2);
        REQUIRE(contains(missing, "UFFD_FEATURE_PAGEFAULT_FLAG_WP"));
        REQUIRE(contains(missing, "UFFDIO_WRITEPROTECT"));
        REQUIRE(fault::missing_for_sigbus_mode(c).size() == 2);
    }
    SECTION("registration failed") {
        fault::uffd_capabilities c = capable();
        c.register_missing_wp = false;
        c.register_ioctls = 0;
        auto missing = fault::missing_for_handler_mode(c);
        REQUIRE(missing.size() == 1);
        REQUIRE(contains(missing, "MISSING and WP"));
    }
    SECTION("copy, wake and thread id") {
        fault::uffd_capabilities c = capable();
        c.api_features &= ~std::uint64_t{UFFD_FEATURE_THREAD_ID};
        c.register_ioctls = 1ull << _UFFDIO_WRITEPROTECT;
        auto missing = fault::missing_for_handler_mode(c);
        REQUIRE(missing.size() == 3);
        REQUIRE(contains(missing, "UFFD_FEATURE_THREAD_ID"));
        REQUIRE(contains(missing, "UFFDIO_COPY"));
        REQUIRE(contains(missing, "UFFDIO_WAKE"));
    }
    SECTION("SIGBUS matters only to sigbus mode") {
        fault::uffd_capabilities c = capable();
        c.api_features &= ~std::uint64_t{UFFD_FEATURE_SIGBUS};
        REQUIRE(fault::missing_for_handler_mode(c).empty());
        auto missing = fault::missing_for_sigbus_mode(c);
        REQUIRE(missing.size() == 1);
        REQUIRE(contains(missing, "UFFD_FEATURE_SIGBUS"));
    }
    SECTION("no userfaultfd at all: one sentence, carrying the error") {
        fault::uffd_capabilities c;
        c.error = "userfaultfd(2): Function not implemented";
        auto handler = fault::missing_for_handler_mode(c);
        REQUIRE(handler.size() == 1);
        REQUIRE(contains(handler, "cannot be opened"));
        REQUIRE(contains(handler, "Function not implemented"));
        REQUIRE(fault::missing_for_sigbus_mode(c) == handler);
    }
}

TEST_CASE("feature_names and ioctl_names", "[uffd]") {
    REQUIRE(fault::feature_names(0x81) == "PAGEFAULT_FLAG_WP|SIGBUS");
    REQUIRE(fault::feature_names(0).empty());
    REQUIRE(fault::feature_names(UFFD_FEATURE_THREAD_ID) == "THREAD_ID");
    REQUIRE(fault::feature_names(fault::uffd_feature_wp_unpopulated | fault::uffd_feature_poison | fault::uffd_feature_wp_async |
                                 fault::uffd_feature_move) == "WP_UNPOPULATED|POISON|WP_ASYNC|MOVE");
    REQUIRE(fault::feature_names(1ull << 17) == "0x20000");
    REQUIRE(fault::feature_names(1ull | (1ull << 40) | (1ull << 17)) == "PAGEFAULT_FLAG_WP|0x10000020000");

    REQUIRE(fault::ioctl_names((1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE)) == "WAKE|COPY");
    REQUIRE(fault::ioctl_names(1ull << _UFFDIO_WRITEPROTECT) == "WRITEPROTECT");
    REQUIRE(fault::ioctl_names(1ull << 20) == "0x100000");
}
