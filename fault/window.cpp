// Window reservation, userfaultfd registration and the page-level ioctls with their error classes.
#include "fault/window.hpp"

#include "fault/uffd_probe.hpp"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace aether::fault {

namespace {

// A page of one repeated byte, as a UFFDIO_COPY source (0xFF is the VOID page, 0 the zero page).
struct filled_page {
    explicit filled_page(std::uint8_t b) noexcept { std::memset(bytes, b, sizeof bytes); }
    alignas(4096) std::uint8_t bytes[page_size];
};

int uffd_ioctl(int fd, unsigned long request, void* arg) noexcept {
    for (;;) {
        if (::ioctl(fd, request, arg) == 0) return 0;
        if (errno == EINTR) continue;
        return -errno;
    }
}

// UFFDIO_WRITEPROTECT on one page with `mode` (MODE_WP to protect, 0 to clear and wake); EAGAIN (the
// layout is changing) is retried.
int set_write_protect(int fd, std::uint64_t page, std::uint64_t mode) noexcept {
    uffdio_writeprotect wp{};
    wp.range.start = page;
    wp.range.len = page_size;
    wp.mode = mode;
    for (;;) {
        int e = uffd_ioctl(fd, UFFDIO_WRITEPROTECT, &wp);
        if (e != -EAGAIN) return e;
    }
}

} // namespace

const char* to_string(fault_mode m) noexcept { return m == fault_mode::sigbus ? "sigbus" : "handler"; }

std::string mapping_overlapping(std::uint64_t begin, std::uint64_t end) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::uint64_t lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
        if (lo < end && hi > begin) return line;
    }
    return {};
}

setup_result<std::unique_ptr<window>> window::create(node_id node_count, fault_mode mode) {
    if (node_count == 0 || node_count > max_window_nodes())
        return setup_error{"a window for " + std::to_string(node_count) +
                               " nodes does not fit below SERAPH_AETHER_END (at most " + std::to_string(max_window_nodes()) +
                               " nodes)",
                           EINVAL};
    const std::uint64_t size = std::uint64_t{node_count} * node_span;

    // Refuse to start rather than run half-working: check every feature this mode relies on.
    uffd_capabilities caps = probe_uffd();
    auto missing = mode == fault_mode::sigbus ? missing_for_sigbus_mode(caps) : missing_for_handler_mode(caps);
    if (!missing.empty()) {
        std::string message = "userfaultfd cannot support the " + std::string(to_string(mode)) + " fault mode:";
        for (auto& m : missing) message += "\n  - " + m;
        return setup_error{message, ENOTSUP};
    }
    int raw = open_userfaultfd(mode == fault_mode::handler);
    if (raw < 0) return setup_error::from_errno(-raw, {"cannot open a userfaultfd"});
    unique_fd uffd(raw);
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID |
                   (mode == fault_mode::sigbus ? UFFD_FEATURE_SIGBUS : 0) |
                   // The exact faulting address (not just its page) for the VOID context and SIGBUS.
                   (caps.api_features & UFFD_FEATURE_EXACT_ADDRESS);
    if (int e = uffd_ioctl(uffd.get(), UFFDIO_API, &api); e < 0)
        return setup_error::from_errno(-e, {"UFFDIO_API refused the features the runtime needs"});

    void* want = as_ptr(window_base);
    void* got =
        ::mmap(want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == MAP_FAILED || got != want) {
        int e = errno;
        if (got != MAP_FAILED) ::munmap(got, size); // an old kernel ignored MAP_FIXED_NOREPLACE
        std::ostringstream os;
        os << "cannot reserve the Aether window [0x" << std::hex << window_base << ", 0x" << window_base + size << ")";
        std::string taken = mapping_overlapping(window_base, window_base + size);
        if (taken.empty()) return setup_error::from_errno(e, {os.str()});
        os << ": the range is already in use by the mapping \"" << taken << "\"";
        return setup_error{os.str(), EEXIST};
    }
    // One VMA, 4 KiB pages only (a THP would defeat per-page tracking and make UFFDIO_COPY fail
    // with EEXIST), and no copy in a forked child: a stray access there fails loudly.
    ::madvise(got, size, MADV_NOHUGEPAGE);
    ::madvise(got, size, MADV_DONTFORK);

    uffdio_register reg{};
    reg.range.start = window_base;
    reg.range.len = size;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
    if (int e = uffd_ioctl(uffd.get(), UFFDIO_REGISTER, &reg); e < 0) {
        ::munmap(got, size);
        return setup_error::from_errno(-e, {"cannot register the window with userfaultfd"});
    }
    constexpr std::uint64_t needed = (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_WAKE) | (1ull << _UFFDIO_WRITEPROTECT);
    if ((reg.ioctls & needed) != needed) {
        ::munmap(got, size);
        return setup_error{"userfaultfd did not grant UFFDIO_COPY, UFFDIO_WAKE and UFFDIO_WRITEPROTECT on the window", ENOTSUP};
    }
    return std::unique_ptr<window>(new window(std::move(uffd), size));
}

window::~window() {
    uffdio_range r{window_base, size_};
    uffd_ioctl(uffd_.get(), UFFDIO_UNREGISTER, &r);
    ::munmap(as_ptr(window_base), size_);
}

int window::install(std::uint64_t page, const void* data, bool writable, bool dont_wake, std::size_t pages) noexcept {
    uffdio_copy c{};
    c.dst = page;
    c.src = reinterpret_cast<std::uint64_t>(data);
    c.len = pages * page_size;
    c.mode = (writable ? 0 : UFFDIO_COPY_MODE_WP) | (dont_wake ? UFFDIO_COPY_MODE_DONTWAKE : 0);
    for (;;) {
        c.copy = 0; // the kernel may leave it unwritten on some error paths
        int e = uffd_ioctl(uffd_.get(), UFFDIO_COPY, &c);
        if (e == 0) return 0;
        // EAGAIN: the address space is changing under us, or a partial copy: go on from where the
        // kernel stopped.
        if (e == -EAGAIN) {
            if (c.copy > 0) {
                c.dst += static_cast<std::uint64_t>(c.copy);
                c.src += static_cast<std::uint64_t>(c.copy);
                c.len -= static_cast<std::uint64_t>(c.copy);
            }
            continue;
        }
        if (e == -EEXIST && !dont_wake) wake(page, pages); // present already: its waiters still need waking
        return e;
    }
}

int window::install_filled(std::uint64_t page, std::uint8_t byte, bool writable) noexcept {
    static const filled_page void_page(0xFF);
    static const filled_page zero_page(0x00);
    if (byte == 0xFF) return install(page, void_page.bytes, writable);
    if (byte == 0) return install(page, zero_page.bytes, writable);
    filled_page other(byte);
    return install(page, other.bytes, writable);
}

int window::write_protect(std::uint64_t page) noexcept {
    return set_write_protect(uffd_.get(), page, UFFDIO_WRITEPROTECT_MODE_WP);
}

// Clearing protection also wakes the writers that faulted on it.
int window::make_writable(std::uint64_t page) noexcept { return set_write_protect(uffd_.get(), page, 0); }

int window::drop(std::uint64_t page, std::size_t pages) noexcept {
    // MADV_DONTNEED on anonymous memory also clears the uffd-wp bit: the next access is a MISSING
    // fault, which is what an invalidated page must produce. (UFFD_EVENT_REMOVE is not enabled, so
    // this never waits for our own event.)
    if (::madvise(as_ptr(page), pages * page_size, MADV_DONTNEED) != 0) return -errno;
    return 0;
}

int window::wake(std::uint64_t page, std::size_t pages) noexcept {
    uffdio_range r{page, pages * page_size};
    return uffd_ioctl(uffd_.get(), UFFDIO_WAKE, &r);
}

} // namespace aether::fault
