// The window: [SERAPH_AETHER_BASE, BASE + node_count * 4 GiB), reserved at the same virtual address
// on every node, so an Aether address is a pointer that means the same thing everywhere.
//
// It is one anonymous VMA (MAP_NORESERVE, MADV_NOHUGEPAGE, MADV_DONTFORK) registered once with
// userfaultfd in MISSING and WP modes. A page that is not present faults; the runtime fills it with
// UFFDIO_COPY (read-only copies with MODE_WP, so the first write faults again) and takes it away
// with write-protect + MADV_DONTNEED. No runtime thread ever touches a window page that is not
// present: it would wait on its own fault.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/result.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace aether::fault {

enum class fault_mode : std::uint8_t {
    handler, // a handler thread reads fault messages (serves faults inside system calls too)
    sigbus,  // UFFD_FEATURE_SIGBUS: the faulting thread handles its own fault in a SIGBUS handler
};
const char* to_string(fault_mode m) noexcept;

class window {
public:
    // Reserves and registers the window, or says why it cannot, naming the mapping that occupies
    // the range if that is the cause (EEXIST).
    static setup_result<std::unique_ptr<window>> create(node_id node_count, fault_mode mode);
    ~window();
    window(const window&) = delete;
    window& operator=(const window&) = delete;

    [[nodiscard]] int uffd() const noexcept { return uffd_.get(); }
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
    [[nodiscard]] bool contains(std::uint64_t addr) const noexcept { return addr >= window_base && addr - window_base < size_; }

    // The page operations. Each returns 0 or -errno after classifying the kernel's answer:
    // EAGAIN (layout changing) is retried here; EEXIST from install means the page is already
    // present; ENOENT/ESRCH mean the mapping or the process is going away.

    // Places a copy of `data` (`pages` x 4 KiB, one ioctl) at `page`; read-only (write-protected)
    // unless `writable`. Wakes threads waiting on the pages unless `dont_wake`.
    int install(std::uint64_t page, const void* data, bool writable, bool dont_wake = false, std::size_t pages = 1) noexcept;
    // Same for a page filled with `byte` (the VOID page is 0xFF).
    int install_filled(std::uint64_t page, std::uint8_t byte, bool writable) noexcept;
    int write_protect(std::uint64_t page) noexcept;
    // Removes write protection (and wakes the writers waiting on it).
    int make_writable(std::uint64_t page) noexcept;
    // Takes a page away: the next access faults as MISSING.
    int drop(std::uint64_t page, std::size_t pages = 1) noexcept;
    int wake(std::uint64_t page, std::size_t pages = 1) noexcept;

private:
    window(unique_fd uffd, std::uint64_t size) noexcept
        : uffd_(std::move(uffd)),
          size_(size) {}

    unique_fd uffd_;
    std::uint64_t size_;
};

// The first mapping of /proc/self/maps that intersects [begin, end), as "start-end perms path", or "".
std::string mapping_overlapping(std::uint64_t begin, std::uint64_t end);

} // namespace aether::fault
