// fault_resolver: what a page fault on the window turns into. A load obtains a read-only copy, a
// store an exclusive one; when the page cannot be had before the deadline, a load reads the 0xFF
// VOID page (and the faulting thread's VOID context is set) and a store raises SIGBUS in the
// storing thread, or waits, by policy. Never a silently dropped store, never a hang.
#pragma once
#include "aether/internal/guard.hpp"

#include "fault/fault_sink.hpp"
#include "runtime/cache.hpp"

#include <atomic>
#include <cstdint>
#include <memory>

namespace aether {

class page_fetcher;
class readahead;

enum class store_policy : std::uint8_t {
    sigbus, // a store to memory that cannot be reached raises SIGBUS in the storing thread
    block,  // it waits, retrying every void_retry_ms, until the memory can be reached
};

class fault_resolver final : public fault::fault_sink {
public:
    // `handed_off`: faults reach resolve() on another thread than the one that faulted (handler
    // mode): each costs two thread hand-offs, counted here.
    // `readahead_pages`: the most pages one sequential read fault fetches (1: none).
    fault_resolver(page_fetcher& fetcher, store_policy policy, std::uint32_t void_retry_ms, bool handed_off,
                   std::uint32_t readahead_pages);
    ~fault_resolver() override;
    fault::fault_outcome resolve(const fault::fault_event& e) noexcept override;
    bool background() noexcept override;

    // VOID pages are dropped once their retry time has passed, and at once when their node
    // answers again, so that a later access tries for real.
    void drop_expired_void_pages() noexcept;
    void node_answered(std::uint16_t node) noexcept;
    [[nodiscard]] std::uint64_t void_pages_now() const noexcept { return void_pending_.load(std::memory_order_relaxed); }

private:
    fault::fault_outcome served(const fault::fault_event& e, cache_state s, std::uint64_t ticket) noexcept;
    // SIGBUS for the access, counted: a store to unreachable memory under store_policy::sigbus,
    // or any access no page can be mapped for (the kernel refused the copy).
    fault::fault_outcome raise_sigbus() noexcept;
    result<void> fetch(std::uint64_t page, bool write, node_id home, deadline dl) noexcept;
    // Drops the VOID pages that expired by `expired_by_ms` (of node `only`, or of all: no_node)
    // and takes them off void_pending_ and void_per_node_.
    void drop_void_pages(std::uint64_t expired_by_ms, std::uint16_t only) noexcept;

    page_fetcher& fetcher_;
    store_policy policy_;
    std::uint32_t void_retry_ms_;
    bool handed_off_;
    std::atomic<std::uint64_t> void_pending_{0};
    std::unique_ptr<std::atomic<std::uint32_t>[]> void_per_node_;
    std::unique_ptr<readahead> readahead_; // null when readahead is off
};

const char* to_string(store_policy p) noexcept;

} // namespace aether
