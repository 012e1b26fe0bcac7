// runtime: everything one Seraph_Aether handle owns in this process: the window and its cache,
// the local node, in-process simulated nodes, and the requester side of every operation.
//
// Requests for another node's pages are made by the calling thread itself over the transport
// (its request_transport); requests for this node's own pages go to the local node directly.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/result.hpp"
#include "fault/handler_pool.hpp"
#include "fault/window.hpp"
#include "runtime/cache.hpp"
#include "runtime/void_context.hpp"
#include "runtime/config.hpp"
#include "runtime/fault_resolver.hpp"
#include "runtime/lease.hpp"
#include "runtime/node.hpp"
#include "runtime/page_fetcher.hpp"
#include "runtime/stats.hpp"
#include "transport/fault_injection.hpp"
#include "transport/peers.hpp"
#include "transport/backends.hpp"
#include "transport/transport.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aether {

namespace admin {
class endpoint;
class metrics_endpoint;
} // namespace admin

class runtime final : public page_fetcher {
public:
    // Reserves the window, starts the local node, or says why it cannot.
    static setup_result<std::unique_ptr<runtime>> create(const runtime_config& config);
    ~runtime() override;
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    [[nodiscard]] node_id self() const noexcept override { return config_.self; }
    [[nodiscard]] node_id node_count() const noexcept override { return config_.node_count; }
    [[nodiscard]] std::uint32_t timeout_ms() const noexcept override { return timeout_ms_.load(std::memory_order_relaxed); }
    void set_timeout_ms(std::uint32_t ms) noexcept { timeout_ms_.store(ms, std::memory_order_relaxed); }
    [[nodiscard]] deadline op_deadline() const noexcept override { return deadline::after(milliseconds(timeout_ms())); }
    node_counters& counters() noexcept override { return counters_; }
    cache& local_cache() noexcept override { return *cache_; }
    fault::window& window() noexcept { return *window_; }
    node& local_node() noexcept { return *local_; }
    peer_table& peers() noexcept { return peers_; }
    [[nodiscard]] const runtime_config& config() const noexcept { return config_; }
    // What this node knows of node `n` (seraph_aether_get_node_state, aetherctl nodes).
    enum class node_state { unknown, up, suspected, down };
    [[nodiscard]] node_state state_of(node_id n) const noexcept;
    [[nodiscard]] std::uint64_t started_ns() const noexcept { return started_ns_; }
    [[nodiscard]] std::uint64_t faults_per_second() const noexcept { return faults_per_s_.load(std::memory_order_relaxed); }
    // Where this node serves Prometheus metrics ("host:port"), empty if it does not.
    [[nodiscard]] std::string metrics_address() const;
    // Handler mode: the fault handlers started so far, and the readings handed over (handler_pool).
    [[nodiscard]] unsigned fault_handlers() const noexcept { return handler_ ? handler_->threads() : 0; }
    [[nodiscard]] std::uint64_t fault_handovers() const noexcept { return handler_ ? handler_->handovers() : 0; }

    // ---- nodes ----
    enum class add_result { added, duplicate, out_of_range, too_many, failed };
    add_result add_sim_node(node_id id, std::size_t bytes);
    void set_node_online(node_id id, bool online);
    // This node learned that node `id` is down (its process is gone, or it was taken offline): its
    // memory is VOID here from now on, cached copies included, until it answers again. Any thread
    // but the fault path.
    void node_down(node_id id);
    void inject_failure(node_id id, void_reason reason);
    void clear_failure(node_id id);
    [[nodiscard]] bool is_sim_node(node_id id) const noexcept;
    node* sim_node(node_id id) noexcept;

    // ---- memory ----
    result<std::uint64_t> alloc_on(node_id home, std::size_t bytes);
    // This node's memory for this process's own use (the preload heap): allocated, and its first
    // `install_bytes` installed here as this node's exclusive copy in batches, so that their first
    // touch does not fault. The rest is installed as it is used (set_fault_around_here).
    result<std::uint64_t> alloc_here(std::size_t bytes, std::size_t install_bytes);
    // A fault on this node's own memory also installs, as this node's exclusive copy, the pages of
    // the aligned group of `pages` around it that nobody holds: memory used page after page then
    // faults once per group. 1 (the default): one page per fault.
    void set_fault_around_here(std::uint32_t pages) noexcept { fault_around_here_.store(std::max<std::uint32_t>(pages, 1)); }
    // The fault path, after a fault on this node's own page was served.
    void fault_around_here(std::uint64_t page) noexcept override;
    void void_page_installed() noexcept override;
    result<void> free(std::uint64_t addr);
    // Reads may span pages. The generation is that of the last page read.
    result<std::uint64_t> read(std::uint64_t addr, void* dest, std::size_t size, std::uint64_t* failed_at);
    // The API read histogram times one cache hit in this many and records it with this weight
    // (every other read is timed); see read().
    static constexpr std::uint64_t hit_sample_every = 64;
    result<std::uint64_t> write(std::uint64_t addr, const void* src, std::size_t size, std::uint64_t* failed_at);
    result<std::uint64_t> fetch_add(std::uint64_t addr, std::uint64_t delta);
    struct cas_outcome {
        std::uint64_t old;
        bool swapped;
    };
    result<cas_outcome> compare_swap(std::uint64_t addr, std::uint64_t expected, std::uint64_t desired);

    // The page_fetcher the fault path uses (runtime/page_fetcher.hpp), also for explicit reads.
    result<void> acquire_page(std::uint64_t page, bool exclusive, std::byte* buf, deadline dl, bool from_fault = true,
                              std::uint64_t* generation_out = nullptr) override;
    result<ahead_request> ask_ahead(std::uint64_t page, std::size_t following, deadline dl) override;
    result<ahead_batch> receive_ahead(ahead_request& rq, std::span<std::byte> buf, deadline dl) override;
    void install_ahead(const ahead_batch& b, std::span<const std::byte> buf) override;

    // ---- cluster coordination ----
    result<void> barrier(std::uint32_t timeout_ms);
    result<void> publish(const std::string& name, std::uint64_t addr);
    result<std::uint64_t> lookup(const std::string& name, std::uint32_t timeout_ms);

    // ---- cache ----
    result<void> drop_copy(std::uint64_t page);
    std::uint32_t flush_all();
    void clear_remote_copies();

    // ---- generations ----
    result<std::uint64_t> page_generation(std::uint64_t addr);
    result<std::uint64_t> capability_generation(std::uint64_t addr);
    result<std::uint64_t> revoke(std::uint64_t addr);

    // One request to another node on the calling thread (tools use it to inspect and measure).
    result<wire::message> call(node_id dst, const wire::message& m, std::span<std::byte> payload_out, deadline dl);

private:
    runtime(const runtime_config& config);

    setup_result<void> start_fault_path();
    // Opens the admin socket (docs/admin.md), unless configured off; a failure is only logged.
    void start_admin();
    // Serves Prometheus metrics when AETHER_METRICS asks; a failure is only logged.
    void start_metrics();
    void schedule_void_reaper(service_transport& net);
    // The service thread's look at the other nodes, every peer_watch_ms (see runtime.cpp).
    void watch_peers(service_transport& net);
    void probe_suspects(service_transport& net);
    void each_second();
    // The service thread's care of leases and heartbeats, and its failure detector (see
    // runtime.cpp): copies under a lapsed lease go, idle peers are pinged, and a peer silent for
    // AETHER_SUSPECT_MS is suspected.
    void tend_peers(service_transport& net);
    // A reply from `from` to a request of type `asked` sent at `sent_ns` arrived: renews the lease.
    // False when it grants a copy and came too late for its grant to be trusted.
    bool trust_reply(node_id from, wire::msg asked, std::uint64_t sent_ns) noexcept;
    // One request about the page at m.address to its home: served inline when that is this node,
    // over the transport otherwise; the same reply either way. A page the home sends back lands
    // in `page_out` (a page, or empty when the request brings none), and the reply's payload
    // points there.
    result<wire::message> ask_home(const wire::message& m, std::span<std::byte> page_out, deadline dl);
    // ask_home when the home is this node.
    result<wire::message> ask_own_home(const wire::message& m, std::span<std::byte> page_out, deadline dl);
    // Sends a frozen copy's bytes home (putback). Its answer: whether the home applied them (it
    // does not when it no longer records this node as the owner: an earlier putback whose reply was
    // lost was applied, or the page was declared lost or freed), and the grant epoch.
    struct putback_answer {
        bool applied = false;
        std::uint32_t epoch = 0;
    };
    result<putback_answer> write_back(std::uint64_t page, const std::byte* data, deadline dl);
    // Sends an exclusive copy home under the page's gate (see runtime.cpp); true if one went.
    result<bool> write_back_copy(std::uint64_t page, bool keep_shared);
    void finish_writeback(std::uint64_t page, bool keep_shared, const putback_answer& a) noexcept;
    // Before asking a home for a page: sends it the bytes of a copy a failed write-back left frozen,
    // or set aside while the home was down, using `buf` (a page) for them.
    result<void> send_unsent_home(std::uint64_t page, std::byte* buf, deadline dl);
    template <class Local>
    result<std::uint64_t> value_from_home(std::uint64_t addr, wire::msg op, Local local);
    result<void> read_page_chunk(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation);
    // The cache hit of read_page_chunk: the bytes from a copy held here, counted; false if none.
    bool read_hit(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation) noexcept;

    runtime_config config_;
    std::atomic<std::uint32_t> timeout_ms_;
    node_counters counters_;
    peer_table peers_;
    fault_injector injector_;
    local_identity identity_;
    const transport_backend* transport_ = nullptr;
    std::unique_ptr<request_transport> client_;
    std::unique_ptr<fault::window> window_;
    std::unique_ptr<cache> cache_;
    std::unique_ptr<node> local_;
    std::unique_ptr<fault_resolver> resolver_;
    std::unique_ptr<fault::handler_pool> handler_;
    bool sigbus_mode_ = false;
    thread_priority threads_ = thread_priority::normal; // of the service and fault-handler threads
    bool reaper_scheduled_ = false;                     // service thread only
    std::vector<bool> seen_down_;                       // service thread only: nodes watch_peers saw down
    std::vector<bool> seen_up_;                         // service thread only: nodes watch_peers saw answer
    copy_leases leases_;
    std::vector<bool> heartbeat_in_flight_; // service thread only
    std::atomic<bool> stopping_{false};     // the destructor runs
    std::uint64_t started_ns_ = now_ns();
    // Service thread: the VOID counts (void_context.hpp) at the last report, and when it was.
    std::array<std::uint64_t, void_reason_count> voids_reported_{};
    std::uint64_t voids_reported_ns_ = now_ns();
    std::uint64_t faults_at_last_second_ = 0;          // service thread
    std::atomic<std::uint64_t> faults_per_s_{0};       // faults in the last second, as each_second saw them
    std::unique_ptr<admin::endpoint> admin_;           // the admin socket, if there is one
    std::unique_ptr<admin::metrics_endpoint> metrics_; // Prometheus metrics, if asked for

    struct sim {
        std::unique_ptr<fault_injector> injector; // sim nodes inject nothing themselves
        std::unique_ptr<node_counters> counters;
        std::unique_ptr<node> n;
    };
    mutable std::mutex sims_mu_;
    std::vector<sim> sims_;
    std::unique_ptr<std::atomic<bool>[]> is_sim_;
    bool local_sized_ = false; // add_sim_node(self, ...) was called
    std::atomic<std::uint64_t> barrier_seq_{0};
    std::atomic<std::uint32_t> fault_around_here_{1};
};

} // namespace aether
