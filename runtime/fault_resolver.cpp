// Page faults on the window: obtain the copy the access needs, or apply the VOID policy.
#include "runtime/fault_resolver.hpp"

#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "runtime/runtime.hpp"
#include "runtime/void_context.hpp"

#include <time.h>

namespace aether {

const char* to_string(store_policy p) noexcept { return p == store_policy::block ? "block" : "sigbus"; }

namespace {

bool readable(cache_state s) noexcept {
    return s == cache_state::shared || s == cache_state::exclusive || s == cache_state::frozen ||
           s == cache_state::void_copy;
}

std::uint64_t now_ms() noexcept { return now_ns() / 1'000'000; }

void sleep_ms(std::uint32_t ms) noexcept {
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

} // namespace

fault_resolver::fault_resolver(runtime& rt, store_policy policy, std::uint32_t void_retry_ms, bool handed_off,
                               std::uint32_t readahead_pages)
    : rt_(rt), policy_(policy), void_retry_ms_(void_retry_ms), handed_off_(handed_off),
      void_per_node_(new std::atomic<std::uint32_t>[rt.node_count()]), readahead_(readahead_pages) {
    for (std::uint16_t n = 0; n < rt.node_count(); ++n) void_per_node_[n].store(0, std::memory_order_relaxed);
    // One buffer serves the handler thread; in SIGBUS mode a few application threads may scan at once.
    if (readahead_pages > 1)
        readahead_buffers_ = std::make_unique<readahead_buffers>(handed_off ? 1 : 4, wire::readahead_payload_size(readahead_pages - 1));
}

result<void> fault_resolver::fetch_for_read(std::uint64_t page, deadline dl) noexcept {
    const node_id home = node_of(page);
    std::uint32_t following = 0;
    if (home != rt_.self() && readahead_buffers_) {
        // Not past the end of the home's memory, and not over pages this node holds already.
        const std::uint64_t left_in_node = pages_per_node - 1 - page_index_of(page);
        following = static_cast<std::uint32_t>(std::min<std::uint64_t>(readahead_.pages_for_fault(page) - 1, left_in_node));
        following = static_cast<std::uint32_t>(rt_.local_cache().absent_run(page, following));
    }
    if (following > 0) {
        if (auto lease = readahead_buffers_->try_take()) {
            auto r = rt_.acquire_page_ahead(page, following, lease.bytes(), dl);
            if (!r) return r.error();
            readahead_.fetched(page, static_cast<std::uint32_t>(*r));
            return success();
        }
    }
    auto r = rt_.acquire_page(page, false, nullptr, dl);
    if (r.ok() && home != rt_.self() && readahead_buffers_) readahead_.fetched(page, 0);
    return r;
}

fault::fault_outcome fault_resolver::resolve(const fault::fault_event& e) noexcept {
    runtime_scope scope; // in sigbus mode this runs on the application's own thread
    const std::uint64_t page = page_floor(e.address);
    const node_id home = node_of(page);
    cache& c = rt_.local_cache();
    bump(e.write ? rt_.counters().write_faults : rt_.counters().read_faults);
    // Handler mode: the faulting thread woke the handler, which wakes it back when done.
    if (handed_off_) bump(rt_.counters().handoffs, 2);
    for (;;) {
        const deadline dl = rt_.op_deadline();
        failure why{};
        for (;;) {
            cache_state s = c.snapshot(page).state;
            if (e.write ? s == cache_state::exclusive : readable(s)) return fault::fault_outcome::resolved;
            auto gate = c.begin_fetch(page, e.write, dl);
            if (gate == cache::gate_result::present) return fault::fault_outcome::resolved;
            if (gate == cache::gate_result::timeout) {
                why = failure::of(void_reason::timeout);
                break;
            }
            auto r = e.write ? rt_.acquire_page(page, true, nullptr, dl) : fetch_for_read(page, dl);
            c.end_fetch(page);
            if (r.ok()) {
                if (home != rt_.self()) node_answered(home);
                return fault::fault_outcome::resolved;
            }
            why = r.error();
            break;
        }
        set_void_context_for(e.tid, why.reason, e.address);
        if (!e.write) {
            // The load reads 0xFF (a 64-bit load yields SERAPH_VOID_U64) until the retry time.
            if (c.install_void(page, now_ms() + void_retry_ms_)) {
                void_pending_.fetch_add(1, std::memory_order_relaxed);
                void_per_node_[home].fetch_add(1, std::memory_order_relaxed);
                rt_.local_node().loop().nudge(); // starts the reaper (signal-safe)
            }
            bump(rt_.counters().void_pages);
            return fault::fault_outcome::void_page;
        }
        if (policy_ == store_policy::sigbus) {
            bump(rt_.counters().sigbus_raised);
            return fault::fault_outcome::raise_sigbus;
        }
        // store_policy::block: the store is not dropped; it waits for the memory to come back.
        sleep_ms(void_retry_ms_);
    }
}

void fault_resolver::drop_expired_void_pages() noexcept {
    if (void_pending_.load(std::memory_order_relaxed) == 0) return;
    std::size_t dropped = rt_.local_cache().drop_void_pages(now_ms(), [this](std::uint64_t page) {
        void_per_node_[node_of(page)].fetch_sub(1, std::memory_order_relaxed);
    });
    void_pending_.fetch_sub(dropped, std::memory_order_relaxed);
}

void fault_resolver::node_answered(std::uint16_t node) noexcept {
    if (void_per_node_[node].load(std::memory_order_relaxed) == 0) return;
    std::size_t dropped = rt_.local_cache().drop_void_pages(UINT64_MAX, [this, node](std::uint64_t page) {
        void_per_node_[node_of(page)].fetch_sub(1, std::memory_order_relaxed);
    }, node);
    void_pending_.fetch_sub(dropped, std::memory_order_relaxed);
}

} // namespace aether
