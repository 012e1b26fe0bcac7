// node: one Aether node's home service: the requests for the pages it homes, admitted and
// dispatched through the directory (directory.hpp), and the dispatch of every request that
// arrives on its service transport: to itself, to the coordinator (node 0's names and barriers)
// or to the invalidation service (this process's cache, when a home asks for a copy back).
// The process's own node also has a cache (the window); in-process simulated nodes have none.
//
// Every request for a home page is serialized per page. A request that needs no other node to act
// (the common case) completes at once under the page lock, on the thread that received it. One that
// must first invalidate copies or recall an exclusive copy marks the page busy, sends the
// invalidations in parallel from the service thread, and completes when every acknowledgement is in;
// requests that meet a busy page wait in its queue. See docs/protocol.md.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/inline_list.hpp"
#include "aether/internal/result.hpp"
#include "runtime/coordinator.hpp"
#include "runtime/directory.hpp"
#include "runtime/home.hpp"
#include "runtime/invalidation_service.hpp"
#include "runtime/lease.hpp"
#include "runtime/stats.hpp"
#include "transport/backends.hpp"
#include "transport/fault_injection.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"

#include <atomic>
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace aether {

class cache;

// One request to a home page (or a page step of free/revoke), as the home keeps it while it waits
// (its bytes owned). `done` runs under the page lock, on whichever thread completes the request,
// and must be short (copy bytes, queue a reply, wake). Its answer is the reply message: a page is
// its payload (4 KiB of home bytes, valid only while `done` runs); a readahead reply's payload is
// the run of pages and its tail their grants.
struct home_request {
    wire::msg op = wire::msg::read_shared;
    node_id requester = no_node;
    std::uint64_t address = 0;
    std::uint64_t arg0 = 0;
    std::uint64_t arg1 = 0;
    std::uint16_t flags = 0;
    std::vector<std::byte> data;
    std::function<void(const wire::message&)> done;

    // A request as it arrives, from the network or from this process's own runtime: its fields
    // and a copy of its payload (`done` is the caller's to set).
    static home_request of(node_id requester, const wire::message& m) {
        return home_request{.op = m.type,
                            .requester = requester,
                            .address = m.address,
                            .arg0 = m.arg0,
                            .arg1 = m.arg1,
                            .flags = m.flags,
                            .data = {m.payload.begin(), m.payload.end()},
                            .done = {}};
    }
};

class node final : public request_handler {
public:
    struct options {
        node_id self = 0;
        node_id node_count = 1;
        std::size_t home_bytes = 0;
        local_identity identity;
        const transport_backend* transport = nullptr; // the backend its service side runs on
        peer_table* peers = nullptr;
        fault_injector* injector = nullptr; // the path from this node to others
        cache* local_cache = nullptr;       // the process's own node only
        const std::atomic<std::uint32_t>* timeout_ms = nullptr;
        std::function<bool(node_id)> is_passive; // in-process simulated nodes: never join barriers
        node_counters* counters = nullptr;
        std::string name;
        std::uint64_t poll_ns = 0;                          // the service thread polls this long after serving before sleeping
        thread_priority priority = thread_priority::normal; // the service thread's scheduling
        std::uint64_t hold_ns = 0;                          // the hold window of this node's cache (cache::hold_remaining_ns)
        lease_terms lease = lease_terms::of_ms(2000);       // what a reply promises its requester (lease.hpp)
    };

    // Starts the node's service thread listening on `listen_on` (port 0: any free port).
    static setup_result<std::unique_ptr<node>> start(options opts, const listen_endpoint& listen_on);
    ~node() override;

    [[nodiscard]] node_id id() const noexcept { return opt_.self; }
    [[nodiscard]] std::uint16_t port() const noexcept { return transport_->port(); }
    [[nodiscard]] bool online() const noexcept { return online_.load(std::memory_order_relaxed); }
    void set_online(bool online);
    home_store& home() noexcept { return *home_.load(std::memory_order_acquire); }
    // Replaces the home memory with one of `bytes` (only before anything was allocated).
    bool resize_home(std::size_t bytes);
    service_transport& transport() noexcept { return *transport_; }
    executor& exec() noexcept { return transport_->exec(); }
    fault_injector& injector() noexcept { return *opt_.injector; } // the path from this node to others
    [[nodiscard]] bool has_cache() const noexcept { return opt_.local_cache != nullptr; }

    // Requests this process makes for pages this node homes (app threads, the fault handler).
    // Completes inline when no other node must act, otherwise on the service thread (two
    // hand-offs), waiting at most until `dl`. Page bytes of the outcome are copied to `page_out`
    // (4 KiB, may be null when the caller needs none); the outcome's `page` then points there.
    // The outcome is written to `answer`, the caller's own object: served inline, the reply is
    // copied once, from where the home built it to there (every local fetch_add, compare_swap
    // and page fetch takes this path).
    void serve_local(home_request r, deadline dl, std::byte* page_out, wire::message& answer);
    wire::message serve_local(home_request r, deadline dl, std::byte* page_out = nullptr) {
        wire::message answer;
        serve_local(std::move(r), dl, page_out, answer);
        return answer;
    }

    // Non-page requests made locally.
    result<home_store::allocation> allocate_local(std::size_t bytes);
    // Frees inline when no other node holds a copy of the allocation (no service thread, one
    // madvise per run of pages), through the service thread otherwise.
    result<void> free_local(std::uint64_t addr, deadline dl);
    // For this process's own use of its own memory (the preload heap): makes this node the
    // exclusive owner of the `pages` pages from `first` and installs them in its window in batches,
    // so that their first touch does not fault. Only allocated pages nobody holds a copy of are
    // granted; the others are left to fault as usual. Allocates nothing (the fault path calls it).
    void grant_exclusive_here(std::uint32_t first, std::uint32_t pages) noexcept;
    // Addresses of pages of this node's memory that another node holds exclusive (their current
    // bytes are there, not here), at most `max`.
    std::vector<std::uint64_t> pages_owned_elsewhere(std::size_t max);
    result<std::uint64_t> revoke_local(std::uint64_t addr, deadline dl);
    // `which`: get_generation (the page's) or get_global_gen (its allocation's capability). Read
    // under the page's lock, with no message and no callback: a lookup costs that much less.
    result<std::uint64_t> generation_local(wire::msg which, std::uint64_t addr);
    // Coordinator requests made locally when this node is the coordinator (node 0).
    result<void> barrier_local(std::uint64_t seq, std::uint32_t timeout_ms, deadline dl);
    result<void> publish_local(const std::string& name, std::uint64_t addr, deadline dl);
    result<std::uint64_t> lookup_local(const std::string& name, std::uint32_t wait_ms, deadline dl);
    // Sets the refusal (PERMISSION / GENERATION / none) this home applies to requests from `from`.
    void set_refusal(node_id from, void_reason r) noexcept;

    // The directory entry of a home page, copied under its lock.
    struct page_snapshot {
        bool valid = false;
        dir_state state = dir_state::unowned;
        node_id owner = no_node;
        std::vector<node_id> sharers;
        std::uint64_t generation = 0;
        std::uint64_t cap_gen = 0;
        std::uint32_t epoch = 0;
        std::uint32_t queued = 0; // requests waiting for the entry to be free (at most 65535 shown)
        bool allocated = false;
    };
    page_snapshot snapshot(std::uint32_t page_index);
    // How often a home page changed so far: grants and invalidation rounds (its epoch) plus writes
    // (its generation), modulo 2^32. Read under the entry's lock, allocates nothing: an inspector
    // compares two readings to find the pages most in demand.
    [[nodiscard]] std::uint32_t page_changes(std::uint32_t page_index) noexcept;
    [[nodiscard]] std::uint32_t home_page_count() noexcept { return home().page_count(); }
    [[nodiscard]] std::uint32_t home_pages_in_use() { return home().page_count() - home().free_pages(); }

    // request_handler (service thread)
    void on_request(const inbound_request& request, reply_token reply) noexcept override;
    void on_peer_restarted(node_id n) noexcept override;
    void on_admin_client(unique_fd stream) noexcept override;

    // Where operators' connections on the cluster port go (the runtime's admin endpoint); none:
    // they are closed. Any thread.
    using admin_client_fn = std::function<void(unique_fd)>;
    void set_admin_clients(admin_client_fn take);

private:
    explicit node(options opts);

    struct transaction;
    using target = directory::target;
    using target_list = directory::target_list;

    using reply_fn = std::function<void(const wire::message&)>;

    // Every reply to a request goes through here: it renews the requester's lease on the copies
    // it holds of this node's pages, so the fence clock notes it first.
    void reply_to(const reply_token& to, const wire::message& m) noexcept;
    // A target did not answer an invalidation: once it is fenced its copy no longer counts (its
    // own lease made it stop using it), and the request goes on; until then the request waits, if
    // the fence comes before `dl`, or fails.
    void target_failed(const std::shared_ptr<transaction>& t, const target& tg, failure why, deadline dl);
    void apply_answer(const std::shared_ptr<transaction>& t, const target& tg, const directory::answer& a,
                      std::span<const std::byte> data);

    deadline home_deadline() const noexcept;
    std::uint32_t timeout_ms() const noexcept { return opt_.timeout_ms->load(std::memory_order_relaxed); }

    // The page protocol.
    // directory::admit for `r`, under the page lock; first directory::owner_gave_up for a read.
    std::optional<failure> admit(const home_request& r, home_page& p, std::uint32_t index);
    void serve(home_request r);                                                     // service thread
    bool try_serve_inline(home_request& r);                                         // any thread: false if other nodes must act
    wire::message serve_via_loop(home_request r, deadline dl, std::byte* page_out); // two hand-offs
    // Under the page lock, when every target is this node: invalidates its own copies, then
    // completes the request.
    void serve_here(home_request& r, home_page& p, std::uint32_t index, const target_list& targets);
    void finish(home_request& r, home_page& p, std::uint32_t index, bool requester_was_sharer);
    // Readahead: shares the pages after `index` that need no other node with the requester and
    // sets the outcome's batch (service thread; the caller holds page index's lock). The grants go
    // to grants_out_; the pages are sent straight from the home's memory (see node.cpp).
    void grant_following(const home_request& r, std::uint32_t index, wire::message& o);
    // A target's answer, applied to the entry (directory::on_answer), its bytes taken home if so.
    void apply_ack(std::uint32_t index, home_page& p, const target& t, const directory::answer& a, bool discard,
                   std::span<const std::byte> data, std::optional<failure>& txn_failure);
    void invalidate_self(std::uint32_t index, home_page& p, const target& t, std::uint32_t epoch, bool discard,
                         std::optional<failure>& txn_failure);
    void complete(const std::shared_ptr<transaction>& t);
    // The request's deadline passed while an owner's answer is still awaited: answers it VOID.
    void answer_early(const std::shared_ptr<transaction>& t, node_id owner);
    void drain(std::uint32_t index);
    static bool asks_of_home(wire::msg m) noexcept;

    // Request handlers (service thread).
    void handle_page_request(const inbound_request& in, const reply_token& r);
    void handle_alloc(const wire::message& m, const reply_fn& reply);
    void handle_free(std::uint64_t addr, const reply_fn& reply);
    // The steps of a free after begin_free: every copy goes, then the pages return to the allocator.
    result<home_store::allocation> begin_free_at(std::uint64_t addr);
    void free_pages(const home_store::allocation& a, const reply_fn& reply);
    bool try_free_inline(const home_store::allocation& a);
    void handle_revoke(std::uint64_t addr, const reply_fn& reply);
    void handle_generation(const wire::message& m, const reply_fn& reply);

    // Runs a per-page step of free/revoke for every page of an allocation, then `finally`.
    void for_each_page_step(wire::msg op, const home_store::allocation& a, std::function<void(std::optional<failure>)> finally);

    // Runs `fn(reply)` on the service thread and waits for its reply message. The two hand-offs
    // are counted (node_counters::handoffs) unless `data_path` is false: the cluster calls
    // (names, barriers) run there too, and a benchmark that waits in a barrier must not see them.
    result<wire::message> run_on_loop(std::function<void(reply_fn)> fn, deadline dl, bool data_path = true);

    options opt_;
    // Replaced (once, before any allocation) by resize_home while other threads may look: an
    // atomic pointer, and the replaced store stays alive until the node ends.
    std::atomic<home_store*> home_;
    std::vector<std::unique_ptr<home_store>> stores_;
    std::unique_ptr<service_transport> transport_;
    std::atomic<bool> online_{true};
    std::unique_ptr<std::atomic<std::uint8_t>[]> refusal_; // per requesting node: a void_reason
    fence_clock fences_;                                   // when each node stops using its copies of this node's pages

    std::mutex admin_clients_lock_; // rarely taken: an operator's connection, or setting the target
    admin_client_fn admin_clients_;

    // Service-thread state.
    std::unordered_map<std::uint32_t, std::deque<home_request>> waiting_;
    coordinator coordinator_;                                             // node 0: names and barriers
    invalidation_service invalidations_;                                  // this process's cache, asked by homes
    std::array<wire::readahead_grant, wire::max_readahead> grants_out_{}; // the last readahead reply's
};

} // namespace aether
