// readahead: which read faults are part of a sequential scan, and how far ahead to fetch.
//
// A remote read fault costs a round trip; a scan of remote memory would pay one per 4 KiB page.
// Like the kernel's file readahead, a fault that lands on the page right after the last run
// fetched for a stream is sequential: its stream's window grows (1, 4, 16, 64 pages) and the
// fault asks the home for that many pages at once. A fault anywhere else starts a new stream
// with a window of one page, so random access never fetches what it did not touch.
//
// A few streams are tracked at once (threads scanning different arrays); the least recently used
// one gives way. Used from the fault path, also inside the SIGBUS handler: no allocation, and a
// spin lock held for a few instructions.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/result.hpp"
#include "aether/internal/sync.hpp"
#include "runtime/cache.hpp"
#include "runtime/page_fetcher.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

namespace aether {

class readahead_detector {
public:
    // `max_pages`: the largest run fetched by one fault (1 turns readahead off).
    explicit readahead_detector(std::uint32_t max_pages) noexcept
        : max_pages_(std::max<std::uint32_t>(max_pages, 1)) {}

    // A read fault on `page` (which must be fetched): how many pages to fetch, the page itself
    // included (at least 1). The caller reports what it got with fetched().
    std::uint32_t pages_for_fault(std::uint64_t page) noexcept {
        spin_guard g(lock_);
        ++clock_;
        for (stream& s : streams_) {
            if (s.window != 0 && s.next == page) {
                s.window = std::min(s.window * growth, max_pages_);
                s.used = clock_;
                return s.window;
            }
        }
        stream& victim =
            *std::min_element(streams_.begin(), streams_.end(), [](const stream& a, const stream& b) { return a.used < b.used; });
        victim = stream{.next = page, .window = 1, .used = clock_};
        return 1;
    }

    // The fault on `page` obtained everything before `next`: the stream continues there.
    void continue_at(std::uint64_t page, std::uint64_t next) noexcept {
        spin_guard g(lock_);
        for (stream& s : streams_) {
            if (s.window != 0 && s.next == page) {
                s.next = next;
                return;
            }
        }
    }

    [[nodiscard]] std::uint32_t max_pages() const noexcept { return max_pages_; }

private:
    static constexpr std::uint32_t growth = 4;
    struct stream {
        std::uint64_t next = 0;   // the page a sequential fault of this stream lands on
        std::uint32_t window = 0; // pages of the last run (0: slot unused)
        std::uint64_t used = 0;   // clock_ at its last fault
    };
    std::array<stream, 8> streams_{};
    std::uint64_t clock_ = 0;
    std::uint32_t lock_ = 0;
    std::uint32_t max_pages_;
};

// The buffers readahead replies land in, allocated once up front (the fault path may run in a
// signal handler and never allocates). A fault that finds none free fetches its page alone.
class readahead_buffers {
public:
    readahead_buffers(std::size_t count, std::size_t bytes_each);
    ~readahead_buffers();
    readahead_buffers(const readahead_buffers&) = delete;
    readahead_buffers& operator=(const readahead_buffers&) = delete;

    class lease {
    public:
        lease() = default;
        lease(readahead_buffers* owner, std::size_t slot) noexcept
            : owner_(owner),
              slot_(slot) {}
        lease(lease&& o) noexcept
            : owner_(std::exchange(o.owner_, nullptr)),
              slot_(o.slot_) {}
        lease& operator=(lease&& o) noexcept {
            if (this != &o) {
                give_back();
                owner_ = std::exchange(o.owner_, nullptr);
                slot_ = o.slot_;
            }
            return *this;
        }
        ~lease() { give_back(); }
        explicit operator bool() const noexcept { return owner_ != nullptr; }
        [[nodiscard]] std::span<std::byte> bytes() const noexcept {
            return {owner_->base_ + slot_ * owner_->stride_, owner_->bytes_each_};
        }

    private:
        void give_back() noexcept {
            if (owner_ != nullptr) owner_->busy_[slot_].store(false, std::memory_order_release);
            owner_ = nullptr;
        }
        readahead_buffers* owner_ = nullptr;
        std::size_t slot_ = 0;
    };

    // A free buffer, or an empty lease when all are in use.
    lease try_take() noexcept {
        for (std::size_t i = 0; i < count_; ++i)
            if (!busy_[i].load(std::memory_order_relaxed) && !busy_[i].exchange(true, std::memory_order_acquire))
                return lease(this, i);
        return {};
    }

private:
    static constexpr std::size_t max_count = 8;
    std::size_t count_;
    std::size_t bytes_each_;
    std::size_t stride_;
    std::byte* base_ = nullptr;
    std::array<std::atomic<bool>, max_count> busy_{};
};

// The fault path's readahead: which faults continue a scan, the buffers batches land in, and the
// batches asked for ahead of a scan. A scan at the full window asks for its next batch as soon as
// the current one has arrived, before installing it: the home assembles and sends the next
// batch while this node installs the current one, so a scan runs at the pace of the slower side
// instead of the sum of both.
class readahead {
public:
    // `concurrent_faults`: how many threads may resolve faults at once (1 in handler mode).
    readahead(page_fetcher& fetcher, std::uint32_t max_pages, std::size_t concurrent_faults);
    ~readahead();

    // A read fault on another node's page, by a thread holding the page's fetch gate: obtains the
    // page, and the pages after it when the fault continues a scan.
    result<void> fetch(std::uint64_t page, deadline dl) noexcept;

    // Handler mode, while no fault waits: takes in the batch asked for ahead of a full-speed scan
    // (and asks for the next), up to run_ahead_batches beyond the scan's last fault, so that the
    // scan finds its pages present instead of faulting. True if there is more to do.
    bool run_ahead() noexcept;

private:
    // How far the handler thread runs ahead of a scan: far enough to keep the install of a batch
    // off the scan's path, near enough that a scan that stops leaves little fetched for nothing.
    static constexpr std::uint32_t run_ahead_batches = 2;

    // A batch asked for ahead of the scan; its reply waits in the socket until a fault needs it.
    struct prefetch {
        page_fetcher::ahead_request rq;
        readahead_buffers::lease buf;
        std::uint64_t asked_ns = 0;
    };
    static constexpr std::size_t max_prefetches = 4;

    // The pages after `page` worth asking for: up to `window - 1`, within the home's memory,
    // absent here.
    std::size_t following_for(std::uint64_t page, std::uint32_t window) noexcept;
    std::optional<prefetch> take_prefetch(std::uint64_t page) noexcept;
    void ask_ahead_of_scan(std::uint64_t next, deadline dl) noexcept;
    // A batch has arrived: asks for the next one if the scan runs at full speed, installs this one,
    // and moves the stream waiting at `stream_at` on to the page after the batch.
    void take_in(std::uint64_t stream_at, const page_fetcher::ahead_batch& b, std::size_t asked,
                 const readahead_buffers::lease& buf, bool full_speed, deadline dl) noexcept;
    bool present(std::uint64_t page) noexcept;

    page_fetcher& fetcher_;
    readahead_detector detector_;
    readahead_buffers buffers_;
    std::uint32_t prefetch_lock_ = 0;
    std::array<std::optional<prefetch>, max_prefetches> prefetches_;
    std::uint64_t latest_ask_ = 0;               // the batch a full-speed scan asked for last (prefetch lock)
    std::atomic<std::uint32_t> ahead_budget_{0}; // batches run_ahead may still take in
};

} // namespace aether
