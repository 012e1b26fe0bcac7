// Readahead on the fault path: batches of pages for sequential scans of another node's memory.
#include "runtime/readahead.hpp"

#include <sys/mman.h>

#include <new>

namespace aether {

readahead_buffers::readahead_buffers(std::size_t count, std::size_t bytes_each)
    : count_(std::min(count, max_count)),
      bytes_each_(bytes_each),
      stride_((bytes_each + page_size - 1) & ~(page_size - 1)) {
    // One mapping, backed only where a batch has landed.
    void* p = ::mmap(nullptr, count_ * stride_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<std::byte*>(p);
}

readahead_buffers::~readahead_buffers() { ::munmap(base_, count_ * stride_); }

readahead::readahead(page_fetcher& fetcher, std::uint32_t max_pages, std::size_t concurrent_faults)
    : fetcher_(fetcher),
      detector_(max_pages),
      // Each faulting thread needs one buffer, and each batch asked for ahead holds one.
      buffers_(concurrent_faults + max_prefetches, wire::readahead_payload_size(std::max<std::uint32_t>(max_pages, 2) - 1)) {}

readahead::~readahead() = default; // batches still asked for: their connections close

bool readahead::present(std::uint64_t page) noexcept { return is_readable(fetcher_.local_cache().state(page)); }

std::size_t readahead::following_for(std::uint64_t page, std::uint32_t window) noexcept {
    if (window <= 1) return 0;
    const std::uint64_t left_in_node = pages_per_node - 1 - page_index_of(page);
    const std::size_t wanted = std::min<std::uint64_t>({window - 1, left_in_node, wire::max_readahead});
    return fetcher_.local_cache().absent_run(page, wanted);
}

std::optional<readahead::prefetch> readahead::take_prefetch(std::uint64_t page) noexcept {
    std::optional<prefetch> out;
    std::optional<prefetch> expired; // closed after the lock is released
    spin_guard g(prefetch_lock_);
    const std::uint64_t oldest_kept = now_ns() - std::uint64_t{fetcher_.timeout_ms()} * 1'000'000;
    for (auto& slot : prefetches_) {
        if (!slot) continue;
        const std::uint64_t first = slot->rq.page;
        if (!out && page >= first && page < first + (slot->rq.following + 1) * page_size) {
            out = std::exchange(slot, std::nullopt);
        } else if (slot->asked_ns < oldest_kept && !expired) {
            // The scan that asked for it went elsewhere long ago.
            expired = std::exchange(slot, std::nullopt);
        }
    }
    return out;
}

void readahead::ask_ahead_of_scan(std::uint64_t next, deadline dl) noexcept {
    if (node_of(next) != node_of(next - page_size) || page_index_of(next) == 0) return; // the home's memory ends
    if (!fetcher_.local_cache().absent_run(next - page_size, 1)) return;                // `next` itself is here
    const std::size_t following = following_for(next, detector_.max_pages());
    auto buf = buffers_.try_take();
    if (!buf) return;
    auto rq = fetcher_.ask_ahead(next, following, dl);
    if (!rq) return; // the fault for `next` will meet the failure itself, with its own deadline
    std::optional<prefetch> evicted;
    spin_guard g(prefetch_lock_);
    auto* slot = &prefetches_[0];
    for (auto& s : prefetches_) {
        if (!s) {
            slot = &s;
            break;
        }
        if (s->asked_ns < (*slot)->asked_ns) slot = &s;
    }
    if (*slot) evicted = std::move(*slot); // the oldest gives way
    slot->emplace(prefetch{std::move(rq.value()), std::move(buf), now_ns()});
    latest_ask_ = next;
}

void readahead::take_in(std::uint64_t stream_at, const page_fetcher::ahead_batch& b, std::size_t asked,
                        const readahead_buffers::lease& buf, bool full_speed, deadline dl) noexcept {
    const std::uint64_t next = b.page + (b.granted + 1) * page_size;
    // Ask for the next batch first: the home assembles and sends it while this one goes in. Not
    // when the run ended short of a full window: a page here or a writer there ends the scan's run.
    if (full_speed && b.granted == asked && asked + 1 == detector_.max_pages()) ask_ahead_of_scan(next, dl);
    fetcher_.install_ahead(b, buf.bytes());
    detector_.continue_at(stream_at, next);
}

result<void> readahead::fetch(std::uint64_t page, deadline dl) noexcept {
    const std::uint32_t window = detector_.pages_for_fault(page);
    const bool full_speed = window >= detector_.max_pages();

    // The fault is where the scan is now: the handler thread may run ahead of it again.
    ahead_budget_.store(full_speed ? run_ahead_batches : 0, std::memory_order_relaxed);

    // A batch asked for ahead of the scan holds the page.
    if (auto pf = take_prefetch(page)) {
        auto b = fetcher_.receive_ahead(pf->rq, pf->buf.bytes(), dl);
        if (b) {
            take_in(page, *b, pf->rq.following, pf->buf, full_speed, dl);
            if (present(page)) return success();
        }
        // It failed, or did not bring this page after all: fetch the page itself.
    }

    const std::size_t following = following_for(page, window);
    if (following > 0) {
        if (auto buf = buffers_.try_take()) {
            auto rq = fetcher_.ask_ahead(page, following, dl);
            if (!rq) return rq.error();
            auto b = fetcher_.receive_ahead(*rq, buf.bytes(), dl);
            if (!b) return b.error();
            take_in(page, *b, following, buf, full_speed, dl);
            if (present(page)) return success();
            // Its grant crossed an invalidation: ask for it alone.
            return fetcher_.acquire_page(page, false, nullptr, dl);
        }
    }
    auto r = fetcher_.acquire_page(page, false, nullptr, dl);
    if (r) detector_.continue_at(page, page + page_size);
    return r;
}

bool readahead::run_ahead() noexcept {
    if (ahead_budget_.load(std::memory_order_relaxed) == 0) return false;
    std::uint64_t page;
    {
        spin_guard g(prefetch_lock_);
        page = latest_ask_;
    }
    auto pf = take_prefetch(page);
    if (!pf) {
        ahead_budget_.store(0, std::memory_order_relaxed);
        return false;
    }
    auto b = fetcher_.receive_ahead(pf->rq, pf->buf.bytes(), fetcher_.op_deadline());
    if (!b) {
        // The scan's own fault meets the failure, with its VOID outcome.
        ahead_budget_.store(0, std::memory_order_relaxed);
        return false;
    }
    take_in(b->page, *b, pf->rq.following, pf->buf, true, fetcher_.op_deadline());
    std::uint32_t left = ahead_budget_.load(std::memory_order_relaxed);
    if (left > 0) ahead_budget_.store(--left, std::memory_order_relaxed);
    return left > 0;
}

} // namespace aether
