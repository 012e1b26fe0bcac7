// Page faults on the window: obtain the copy the access needs, or apply the VOID policy.
#include "runtime/fault_resolver.hpp"

#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "runtime/readahead.hpp"
#include "runtime/page_fetcher.hpp"
#include "runtime/void_context.hpp"

#include <time.h>

namespace aether {

const char* to_string(store_policy p) noexcept { return p == store_policy::block ? "block" : "sigbus"; }

namespace {

// A load is served by a readable copy, and also by the VOID page installed for an earlier load
// that failed (until it expires, a load reads 0xFF instead of trying again).
bool serves_loads(cache_state s) noexcept { return is_readable(s) || s == cache_state::void_copy; }

std::uint64_t now_ms() noexcept { return now_ns() / 1'000'000; }

void sleep_ms(std::uint32_t ms) noexcept {
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

} // namespace

fault_resolver::fault_resolver(page_fetcher& fetcher, store_policy policy, std::uint32_t void_retry_ms, bool handed_off,
                               std::uint32_t readahead_pages)
    : fetcher_(fetcher),
      policy_(policy),
      void_retry_ms_(void_retry_ms),
      handed_off_(handed_off),
      void_per_node_(new std::atomic<std::uint32_t>[fetcher.node_count()]) {
    for (std::uint16_t n = 0; n < fetcher.node_count(); ++n) void_per_node_[n].store(0, std::memory_order_relaxed);
    // A few threads may resolve faults at once: application threads in SIGBUS mode, the handler
    // pool's threads in handler mode.
    if (readahead_pages > 1) readahead_ = std::make_unique<readahead>(fetcher, readahead_pages, 4);
}

fault_resolver::~fault_resolver() = default;

bool fault_resolver::background() noexcept {
    runtime_scope scope;
    return readahead_ && readahead_->run_ahead();
}

fault::fault_outcome fault_resolver::resolve(const fault::fault_event& e) noexcept {
    runtime_scope scope; // in sigbus mode this runs on the application's own thread
    const std::uint64_t page = page_floor(e.address);
    const node_id home = node_of(page);
    node_counters& counters = fetcher_.counters();
    struct service_clock {
        node_counters& c;
        latency_histogram& kind;
        std::uint64_t t0 = now_ns();
        ~service_clock() {
            const std::uint64_t took = now_ns() - t0;
            bump(c.fault_service_ns, took);
            c.latency.record(kind, took);
        }
    } clock{counters, home == fetcher_.self() ? counters.latency.fault_local
                      : e.write               ? counters.latency.fault_write_remote
                                              : counters.latency.fault_read_remote};
    // Before anything that can wait: a report of this access resolved late must not overwrite
    // what a later access of the thread set (see set_void_context_for).
    const std::uint64_t ticket = void_context_ticket();
    cache& c = fetcher_.local_cache();
    bump(e.write ? fetcher_.counters().write_faults : fetcher_.counters().read_faults);
    // Handler mode: the faulting thread woke the handler, which wakes it back when done.
    if (handed_off_) bump(fetcher_.counters().handoffs, 2);
    for (;;) {
        const deadline dl = fetcher_.op_deadline();
        cache_state s = c.state(page);
        if (e.write ? s == cache_state::exclusive : serves_loads(s)) return served(e, s, ticket);
        auto gate = c.begin_fetch(page, e.write, dl);
        if (gate == cache::gate_result::present) return served(e, c.state(page), ticket);
        failure why{};
        if (gate == cache::gate_result::timeout) {
            why = failure::of(void_reason::timeout);
        } else {
            auto r = fetch(page, e.write, home, dl);
            c.end_fetch(page);
            if (r.ok()) {
                if (home != fetcher_.self())
                    node_answered(home);
                else
                    fetcher_.fault_around_here(page);
                return fault::fault_outcome::resolved;
            }
            why = r.error();
        }
        // No page can be mapped here (the kernel refused the copy, or memory ran out on the way):
        // not a VOID, since the memory is fine, and retrying would only fetch it again at once,
        // forever. The access gets SIGBUS at its address, as for file memory the kernel cannot
        // provide.
        if (why.status == fetch_status::oom) return raise_sigbus();
        set_void_context_for(e.tid, why.reason, e.address, ticket);
        if (!e.write) {
            // The load reads 0xFF (a 64-bit load yields SERAPH_VOID_U64) until the retry time.
            // Counted and recorded before it is installed: another thread may load it (without a
            // fault) the moment it is in, and find the reason; and the reaper, seeing it counted,
            // does not clear the record meanwhile.
            void_pending_.fetch_add(1, std::memory_order_acq_rel);
            void_per_node_[home].fetch_add(1, std::memory_order_relaxed);
            note_standing_void_page(why.reason, e.address, ticket);
            const auto installed = c.install_void(page, now_ms() + void_retry_ms_, why.reason);
            if (installed == cache::install_result::installed) {
                fetcher_.void_page_installed(); // starts the reaper (signal-safe)
            } else {                            // a real copy came meanwhile, or none can be mapped
                void_per_node_[home].fetch_sub(1, std::memory_order_relaxed);
                if (void_pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) clear_standing_void_pages();
                if (installed == cache::install_result::failed) return raise_sigbus();
            }
            bump(fetcher_.counters().void_pages);
            return fault::fault_outcome::void_page;
        }
        if (policy_ == store_policy::sigbus) return raise_sigbus();
        // store_policy::block: the store is not dropped; it waits for the memory to come back.
        // Only this fault waits: the handler pool reads the next ones meanwhile.
        about_to_block();
        sleep_ms(void_retry_ms_);
    }
}

fault::fault_outcome fault_resolver::raise_sigbus() noexcept {
    bump(fetcher_.counters().sigbus_raised);
    return fault::fault_outcome::raise_sigbus;
}

// The fetch of a faulting page. The fault path reports failures as values: an allocation that
// fails on the way (a request the home queues, a reply buffer) is OOM here, not an exception
// through a noexcept handler.
result<void> fault_resolver::fetch(std::uint64_t page, bool write, node_id home, deadline dl) noexcept {
    try {
        if (!write && home != fetcher_.self() && readahead_) return readahead_->fetch(page, dl);
        return fetcher_.acquire_page(page, write, nullptr, dl);
    } catch (const std::bad_alloc&) {
        return failure{fetch_status::oom, void_reason::none};
    }
}

// A fault the copy already serves. A load that finds the VOID page another thread's fault put
// there reads 0xFF like that thread: it gets the same reason in its VOID context.
fault::fault_outcome fault_resolver::served(const fault::fault_event& e, cache_state s, std::uint64_t ticket) noexcept {
    if (e.write || s != cache_state::void_copy) return fault::fault_outcome::resolved;
    const void_reason why = fetcher_.local_cache().void_reason_of(e.address);
    if (why == void_reason::none) return fault::fault_outcome::resolved; // dropped meanwhile: the load retries
    set_void_context_for(e.tid, why, e.address, ticket);
    return fault::fault_outcome::void_page;
}

void fault_resolver::drop_expired_void_pages() noexcept {
    if (void_pending_.load(std::memory_order_relaxed) == 0) return;
    drop_void_pages(now_ms(), no_node);
}

void fault_resolver::node_answered(std::uint16_t node) noexcept {
    if (void_per_node_[node].load(std::memory_order_relaxed) == 0) return;
    drop_void_pages(UINT64_MAX, node);
}

void fault_resolver::drop_void_pages(std::uint64_t expired_by_ms, std::uint16_t only) noexcept {
    std::size_t dropped = fetcher_.local_cache().drop_void_pages(
        expired_by_ms, [this](std::uint64_t page) { void_per_node_[node_of(page)].fetch_sub(1, std::memory_order_relaxed); },
        only);
    if (dropped > 0 && void_pending_.fetch_sub(dropped, std::memory_order_acq_rel) == dropped) clear_standing_void_pages();
}

} // namespace aether
