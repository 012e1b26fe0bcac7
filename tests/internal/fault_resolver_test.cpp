// Tests of the fault resolver (runtime/fault_resolver.hpp) behind a scripted page fetcher: faults
// are handed to resolve() as the handler pool would hand them (no thread touches the window), and
// the fetcher decides, per page, when and how each fetch ends.
#include <catch2/catch.hpp>

#include "runtime/cache.hpp"
#include "runtime/fault_resolver.hpp"
#include "runtime/page_fetcher.hpp"
#include "runtime/void_context.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

using namespace aether;

namespace {

constexpr node_id nodes = 2;
const std::uint64_t first_page = make_addr(1, 0);
const std::uint64_t second_page = make_addr(1, page_size);

// Fetches of `first_page` wait until released and then fail NODE_CRASHED; every other fetch fails
// TIMEOUT at once.
class scripted_fetcher final : public page_fetcher {
public:
    scripted_fetcher(cache& c, node_counters& counters)
        : cache_(c),
          counters_(counters) {}

    void wait_until_first_fetch_started() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return first_started_; });
    }
    void release_first_fetch() {
        std::lock_guard lock(mu_);
        first_released_ = true;
        cv_.notify_all();
    }

    node_id self() const noexcept override { return 0; }
    node_id node_count() const noexcept override { return nodes; }
    std::uint32_t timeout_ms() const noexcept override { return 60'000; }
    deadline op_deadline() const noexcept override { return deadline::after(milliseconds(60'000)); }
    cache& local_cache() noexcept override { return cache_; }
    node_counters& counters() noexcept override { return counters_; }
    result<void> acquire_page(std::uint64_t page, bool, std::byte*, deadline, bool, std::uint64_t*) override {
        if (page != first_page) return failure::of(void_reason::timeout);
        std::unique_lock lock(mu_);
        first_started_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return first_released_; });
        return failure::of(void_reason::node_crashed);
    }
    result<ahead_request> ask_ahead(std::uint64_t, std::size_t, deadline) override { return failure::of(void_reason::timeout); }
    result<ahead_batch> receive_ahead(ahead_request&, std::span<std::byte>, deadline) override {
        return failure::of(void_reason::timeout);
    }
    void install_ahead(const ahead_batch&, std::span<const std::byte>) override {}
    void fault_around_here(std::uint64_t) noexcept override {}
    void void_page_installed() noexcept override {}

private:
    cache& cache_;
    node_counters& counters_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool first_started_ = false;
    bool first_released_ = false;
};

} // namespace

TEST_CASE("a fault resolved after its thread's next fault does not overwrite that thread's VOID context") {
    auto created = fault::window::create(nodes, fault::fault_mode::handler);
    if (!created) {
        WARN("no window here (" << created.error().message << "): the resolver test does not run");
        return;
    }
    auto& w = *created;
    node_counters counters{};
    cache c(*w, nodes, counters);
    scripted_fetcher fetcher(c, counters);
    fault_resolver resolver(fetcher, store_policy::sigbus, 60'000, true, 1);
    const auto me = static_cast<pid_t>(::syscall(SYS_gettid));
    clear_void_context();

    // The kernel reported a load of the first page (twice, say: the thread was woken in its fault and
    // faulted again); one report is being resolved on a handler thread, its fetch still under way.
    fault::fault_outcome late = fault::fault_outcome::resolved;
    std::thread handler([&] { late = resolver.resolve({first_page + 8, false, me}); });
    fetcher.wait_until_first_fetch_started();
    // Meanwhile the thread's access ended (another report of it was served) and it loaded the next page.
    CHECK(resolver.resolve({second_page + 16, false, me}) == fault::fault_outcome::void_page);
    CHECK(current_void_context().addr == second_page + 16);
    // Then the old report's fetch fails.
    fetcher.release_first_fetch();
    handler.join();
    CHECK(late == fault::fault_outcome::void_page);
    // What the thread sees is still about its last access.
    const void_context seen = current_void_context();
    CHECK(seen.addr == second_page + 16);
    CHECK(seen.reason == void_reason::timeout);

    // A later explicit clear is later than both: NONE.
    clear_void_context();
    CHECK(current_void_context().reason == void_reason::none);
}
