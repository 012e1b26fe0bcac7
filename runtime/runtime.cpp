// The requester side of every operation, and the assembly of window, cache and nodes.
#include "runtime/runtime.hpp"

#include "runtime/admin/admin_path.hpp"
#include "runtime/admin/endpoint.hpp"
#include "runtime/admin/metrics_endpoint.hpp"
#include "runtime/admin/prometheus_text.hpp"
#include "runtime/admin/report.hpp"
#include "runtime/latency_ticks.hpp"
#include "runtime/void_reasons.hpp"

#include "aether/internal/log.hpp"
#include "fault/sigbus_mode.hpp"
#include "transport/handshake.hpp"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace aether {

namespace {

// The status a reply carries when an operation succeeded at the transport level but the home
// reported nothing more specific.
const failure bad_address{fetch_status::invalid_addr, void_reason::permission};

// How often the service thread looks at the other nodes (watch_peers), and how long a probe of a
// suspect may take: a process that is gone refuses at once.
constexpr std::uint64_t peer_watch_ms = 100;
constexpr std::uint64_t probe_ms = 1000;

// Hands the launcher's listening socket (runtime_config::listen_fd) to `listen` once it is known
// to be a TCP socket listening on this node's own address; an error saying what the descriptor is
// not when it cannot serve.
setup_result<void> take_inherited_listener(const runtime_config& config, listen_endpoint& listen) {
    if (config.listen_fd < 0) return {};
    auto port = check_inherited_listener(config.listen_fd, listen.address);
    if (!port)
        return setup_error{"AETHER_LISTEN_FD=" + std::to_string(config.listen_fd) + " " + port.error().message,
                           port.error().code};
    listen.inherited_socket = config.listen_fd;
    return {};
}

} // namespace

runtime::runtime(const runtime_config& config)
    : config_(config),
      timeout_ms_(config.timeout_ms),
      peers_(config.node_count),
      injector_(config.node_count),
      leases_(config.node_count, lease_terms::of_ms(effective_lease_ms(config))),
      is_sim_(new std::atomic<bool>[config.node_count]) {
    for (node_id n = 0; n < config.node_count; ++n) is_sim_[n].store(false, std::memory_order_relaxed);
}

setup_result<std::unique_ptr<runtime>> runtime::create(const runtime_config& config) {
    if (sodium_init() < 0) return setup_error{"libsodium failed to initialise"};
    std::unique_ptr<runtime> rt(new runtime(config));
    rt->identity_.self = config.self;
    rt->identity_.incarnation = wire::random_u64() | 1; // never 0: 0 means "not seen"
    rt->identity_.key = config.secret.empty() ? wire::cluster_key::random() : wire::cluster_key::from_secret(config.secret);

    // Only this node's own address must resolve now, when it is what the node listens on. Another
    // node's host may still be booting: its name is looked up again when it is needed, and until
    // then that node is UNREACHABLE, as it would be if it did not answer.
    for (node_id n = 0; n < config.peers.size() && n < config.node_count; ++n) {
        if (!rt->peers_.set_name(n, config.peers[n]) && n == config.self && !config.bind)
            return setup_error{"cannot resolve the address of node " + std::to_string(n) + " (this node): \"" + config.peers[n] +
                                   "\"",
                               EADDRNOTAVAIL};
    }

    auto threads = effective_thread_priority(config);
    if (!threads) return threads.error();
    rt->threads_ = *threads;
    auto window = fault::window::create(config.node_count, config.mode);
    if (!window) return window.error();
    rt->window_ = std::move(window).value();
    rt->cache_ = std::make_unique<cache>(*rt->window_, config.node_count, rt->counters_);
    auto transport = choose_transport(config.transport);
    if (!transport) return transport.error().within("AETHER_TRANSPORT");
    rt->transport_ = *transport;
    rt->client_ = with_void_reasons(open_requester(*rt->transport_, transport_setup{.id = rt->identity_,
                                                                                    .peers = &rt->peers_,
                                                                                    .injector = &rt->injector_,
                                                                                    .counters = &rt->counters_.transport,
                                                                                    .poll_ns = effective_poll_ns(config)}),
                                    rt->peers_);

    node::options o;
    o.self = config.self;
    o.node_count = config.node_count;
    o.home_bytes = config.home_bytes;
    o.identity = rt->identity_;
    o.transport = rt->transport_;
    o.peers = &rt->peers_;
    o.injector = &rt->injector_;
    o.local_cache = rt->cache_.get();
    o.timeout_ms = &rt->timeout_ms_;
    runtime* self = rt.get();
    o.is_passive = [self](node_id n) { return self->is_sim_node(n); };
    o.counters = &rt->counters_;
    o.name = "aether-node" + std::to_string(config.self);
    o.poll_ns = service_poll_ns(config, rt->threads_);
    o.priority = rt->threads_;
    // In SIGBUS mode the faulting thread installs the copy itself and its access runs right after:
    // nothing to hold it for. In handler mode the access waits for the thread to be woken.
    o.hold_ns = config.mode == fault::fault_mode::handler ? config.hold_ns : 0;
    o.lease = rt->leases_.terms();

    listen_endpoint listen{.address = peer_address::loopback(0)};
    if (config.bind) {
        // Behind NAT, or listening on every interface: not the address the others dial.
        auto bind = peer_address::parse(*config.bind);
        if (!bind)
            return setup_error{"cannot resolve the bind address of node " + std::to_string(config.self) + ": \"" + *config.bind +
                                   "\"",
                               EADDRNOTAVAIL};
        listen.address = *bind;
    } else if (auto own = rt->peers_.address(config.self)) {
        listen.address = *own;
    }
    if (auto taken = take_inherited_listener(config, listen); !taken) return taken.error();
    auto started = node::start(std::move(o), listen);
    if (!started) return started.error().within("cannot start node " + std::to_string(config.self));
    rt->local_ = std::move(started.value());
    if (config.peers.empty()) rt->peers_.set_address(config.self, peer_address::loopback(rt->local_->port()));
    rt->peers_.mark_alive(config.self, rt->identity_.incarnation);
    if (auto fault_path = rt->start_fault_path(); !fault_path) return fault_path.error();
    if (config.latency_histograms) latency_ticks::calibrate();
    rt->counters_.latency.on.store(config.latency_histograms, std::memory_order_relaxed);
    rt->start_metrics();
    rt->start_admin();
    return rt;
}

void runtime::start_admin() {
    std::string dir;
    if (config_.admin_dir)
        dir = *config_.admin_dir;
    else if (!config_.peers.empty())
        dir = admin::default_dir(config_.cluster, config_.secret);
    if (dir.empty() || dir == "off") return;
    auto started = [&]() -> setup_result<std::unique_ptr<admin::endpoint>> {
        if (auto made = admin::make_private_dir(dir); !made) return made.error();
        return admin::endpoint::start(
            admin::socket_path(dir, config_.self),
            [reports = std::make_shared<admin::reporter>(*this)](std::string_view request) { return reports->answer(request); });
    }();
    // Inspection is a convenience: a node without it still serves its memory.
    if (!started) {
        log::runtime().warn("no admin socket ({}): aetherctl cannot inspect this node", started.error().message);
        return;
    }
    admin_ = std::move(started).value();
    // The same requests from operators on other machines, over the cluster port (aetherctl --peer).
    local_node().set_admin_clients(
        [endpoint = admin_.get(), self = config_.self](unique_fd stream) { endpoint->adopt(std::move(stream), self); });
}

void runtime::start_metrics() {
    if (!config_.metrics) return;
    auto started = admin::metrics_endpoint::start(*config_.metrics, [this] { return admin::prometheus_text(*this); });
    if (!started) {
        log::runtime().warn("no metrics ({})", started.error().message);
        return;
    }
    metrics_ = std::move(started).value();
}

std::string runtime::metrics_address() const { return metrics_ ? metrics_->address() : std::string(); }

// Service thread, from watch_peers, at most once a second: the fault rate aetherctl shows, and the
// accesses that yielded VOID since the last report, by reason, in one info line (the fault path
// cannot log: it may run in a signal handler).
void runtime::each_second() {
    const std::uint64_t now = now_ns();
    if (now - voids_reported_ns_ < 1'000'000'000) return;
    const std::uint64_t faults =
        counters_.read_faults.load(std::memory_order_relaxed) + counters_.write_faults.load(std::memory_order_relaxed);
    faults_per_s_.store((faults - faults_at_last_second_) * 1'000'000'000 / (now - voids_reported_ns_),
                        std::memory_order_relaxed);
    faults_at_last_second_ = faults;
    std::string line;
    for (std::size_t i = 1; i < void_reason_count; ++i) {
        const std::uint64_t count = voids_with(static_cast<void_reason>(i));
        if (count != voids_reported_[i])
            line += (line.empty() ? "" : ", ") + std::string(to_string(static_cast<void_reason>(i))) + " " +
                    std::to_string(count - voids_reported_[i]);
        voids_reported_[i] = count;
    }
    if (!line.empty()) log::runtime().info("VOID in the last {} ms: {}", (now - voids_reported_ns_) / 1'000'000, line);
    voids_reported_ns_ = now;
}

runtime::node_state runtime::state_of(node_id n) const noexcept {
    if (n == config_.self || is_sim_node(n)) return node_state::up;
    if (peers_.is_down(n)) return node_state::down;
    if (!peers_.ever_alive(n)) return node_state::unknown;
    return peers_.is_silent(n) ? node_state::suspected : node_state::up;
}

setup_result<void> runtime::start_fault_path() {
    resolver_ = std::make_unique<fault_resolver>(*this, config_.stores, config_.void_retry_ms,
                                                 config_.mode == fault::fault_mode::handler, config_.readahead_pages);
    if (config_.mode == fault::fault_mode::sigbus) {
        if (auto installed = fault::install_sigbus_mode(*window_, *resolver_); !installed) return installed.error();
        sigbus_mode_ = true;
    } else {
        auto pool = fault::handler_pool::start(
            *window_, *resolver_, fault::handler_pool::options{config_.fault_spin_ns, threads_, config_.fault_threads});
        if (!pool) return pool.error();
        handler_ = std::move(pool).value();
    }
    // VOID pages expire after void_retry_ms. The reaper is a timer on the service thread only
    // while there are VOID pages (a loop without timers sleeps without arming a kernel timer);
    // the fault path nudges the loop when it installs one, and this hook then starts it.
    service_transport& net = local_->transport();
    seen_down_.assign(config_.node_count, false);
    seen_up_.assign(config_.node_count, false);
    heartbeat_in_flight_.assign(config_.node_count, false);
    // Silence counts from now: a peer not heard from yet is not silent before it had its time.
    for (node_id n = 0; n < config_.node_count; ++n) peers_.heard_from(n, now_ns());
    net.exec().post([this, &net] {
        watch_peers(net);
        tend_peers(net);
        net.exec().set_turn_hook([this, &net] {
            probe_suspects(net);
            if (!reaper_scheduled_ && resolver_->void_pages_now() > 0) {
                reaper_scheduled_ = true;
                schedule_void_reaper(net);
            }
        });
    });
    return {};
}

void runtime::schedule_void_reaper(service_transport& net) {
    // Service thread. The timer holds the loop it runs on (the runtime's pointers may already be
    // cleared at shutdown).
    std::uint32_t period = std::clamp<std::uint32_t>(config_.void_retry_ms / 4, 1, 100);
    net.exec().add_timer(deadline::after(milliseconds(period)), [this, &net] {
        resolver_->drop_expired_void_pages();
        if (resolver_->void_pages_now() > 0)
            schedule_void_reaper(net);
        else
            reaper_scheduled_ = false;
    });
}

// Service thread, every peer_watch_ms: what this node must notice about the others even while it
// asks nothing of them.
//  - Suspects (a request met a refused or reset connection, or a connection ended) are probed;
//    a refusal means the process is gone: node_down.
//  - A node that restarted lost its memory: the copies of it here go.
//  - A node down keeps being set aside (pages a fetch held back then), and one that answers again
//    has its VOID pages dropped at once, so the next access tries it.
//  - An idle connection to every node that ever answered is kept open: its end is noticed.
void runtime::watch_peers(service_transport& net) {
    probe_suspects(net);
    peers_.take_restarts([&](node_id n) {
        if (n != config_.self) cache_->discard_node(n);
    });
    for (node_id n = 0; n < config_.node_count; ++n) {
        if (n == config_.self) continue;
        if (peers_.is_down(n)) {
            seen_down_[n] = true;
            (void)cache_->set_aside_node(n);
        } else if (seen_down_[n]) {
            seen_down_[n] = false;
            log::runtime().info("node {} is up again", n);
            resolver_->node_answered(n);
        }
        if (peers_.ever_alive(n)) {
            // (A node that was up and went down before this look is reported down only.)
            if (!seen_up_[n] && !seen_down_[n]) log::runtime().info("node {} is up", n);
            seen_up_[n] = true;
            net.watch(n);
        }
    }
    cache_->sweep_aside();
    each_second();
    net.exec().add_timer(deadline::after(milliseconds(peer_watch_ms)), [this, &net] { watch_peers(net); });
}

// Service thread: after every turn of the loop (a connection that ended is seen at once) and
// every peer_watch_ms (suspects named by other threads).
void runtime::probe_suspects(service_transport& net) {
    // Shutting down, a probe's answer is ignored (below), so a node that refuses stays a suspect
    // and would be probed again after every turn: the real-time service thread spun on it and
    // starved the fault handler that runtime::~runtime was joining (ptr_litmus hung in
    // seraph_aether_destroy about once in ten runs, after the other nodes had exited).
    if (stopping_.load(std::memory_order_acquire)) return;
    peers_.take_suspects([&](node_id n) {
        // A node known down is tried again by watch_peers' connection every peer_watch_ms.
        if (n == config_.self || peers_.is_down(n)) return;
        net.call(n, wire::message{.type = wire::msg::ping}, deadline::after(milliseconds(probe_ms)),
                 [this, n](result<wire::message> r) {
                     if (stopping_.load(std::memory_order_acquire)) return;
                     if (!r.ok() && r.error().reason == void_reason::node_crashed) node_down(n);
                 });
    });
}

// Service thread, every eighth of a lease or of the silence time, whichever is shorter.
//  - Leases: the copies of a home whose lease lapsed go (set aside, for exclusive ones).
//  - Heartbeats: a peer is pinged when its lease wants renewing or when nothing was heard from it
//    for a quarter of the silence time (AETHER_SUSPECT_MS), unless a ping is under way. Every
//    reply counts as hearing from it (trust_reply), so a peer in use is never pinged.
//  - Silence: a peer that answered before and has not been heard from for the silence time is
//    suspected (peer_table::mark_silent): requests to it that time out fail PARTITION, and
//    seraph_aether_get_node_state says SUSPECTED. Its first answer clears that, and its VOID
//    pages go so that the next access tries it again.
// Every node pings every other: N - 1 pings per quarter silence time. Right for the clusters
// this runs on today; thousands of nodes would want an indirect scheme (SWIM's ping-req).
void runtime::tend_peers(service_transport& net) {
    if (stopping_.load(std::memory_order_acquire)) return;
    const std::uint64_t now = now_ns();
    const std::uint64_t silence_ns = std::uint64_t{effective_suspect_ms(config_)} * 1'000'000;
    for (node_id n = 0; n < config_.node_count; ++n) {
        if (n == config_.self || is_sim_node(n)) continue;
        if (leases_.must_drop(n, now)) {
            // A fetch in flight leaves its page for the next pass; the lease stays lapsed till then.
            if (cache_->set_aside_node(n) == 0) {
                leases_.dropped(n, now_ns());
                bump(counters_.lease_lapses);
                log::coherence().info("no word from node {} for a lease: its pages are VOID here until it answers", n);
            }
        }
        const std::uint64_t heard = peers_.last_heard_ns(n);
        const std::uint64_t quiet = now > heard ? now - heard : 0;
        if (quiet > silence_ns && peers_.ever_alive(n) && !peers_.is_down(n) && peers_.mark_silent(n)) {
            bump(counters_.peers_suspected);
            log::runtime().info("node {} silent for {} ms: suspected (stopped, or cut off)", n, quiet / 1'000'000);
        } else if (quiet <= silence_ns && peers_.clear_silent(n)) {
            log::runtime().info("node {} answers again", n);
            resolver_->node_answered(n);
        }
        if (!heartbeat_in_flight_[n] && (leases_.wants_heartbeat(n, now) || quiet >= silence_ns / 4)) {
            heartbeat_in_flight_[n] = true;
            // A lease's renewal is worth waiting for only while the lease runs; silence is judged
            // on its own time.
            const std::uint64_t until = leases_.usable_until(n);
            const std::uint64_t wait = until > now ? std::min(until - now, silence_ns) : silence_ns;
            net.call(n, wire::message{.type = wire::msg::ping}, deadline::after_ns(wait),
                     [this, n, sent = now](result<wire::message> r) {
                         heartbeat_in_flight_[n] = false;
                         if (!r.ok()) return;
                         const std::uint64_t at = now_ns();
                         peers_.heard_from(n, at);
                         peers_.note_rtt(n, at - sent);
                         (void)leases_.on_reply(n, sent, at);
                     });
        }
    }
    const std::uint64_t period = std::max<std::uint64_t>(std::min(leases_.terms().guard_ns / 2, silence_ns / 8), 1'000'000);
    net.exec().add_timer(deadline::after_ns(period), [this, &net] { tend_peers(net); });
}

void runtime::node_down(node_id id) {
    if (id >= config_.node_count || id == config_.self) return;
    if (peers_.mark_down(id)) log::runtime().info("node {} is down: its memory is VOID here until it answers again", id);
    (void)cache_->set_aside_node(id); // what a fetch in flight holds back, watch_peers takes later
}

runtime::~runtime() {
    if (admin_) {
        local_node().set_admin_clients(nullptr); // before the endpoint goes: the service thread hands it streams
        const std::string path = admin_->path();
        admin_.reset(); // first: it reads everything below, the metrics endpoint's address included
        // The cluster's directory goes with its last node (rmdir fails while others are in it).
        (void)::rmdir(path.substr(0, path.rfind('/')).c_str());
    }
    metrics_.reset();
    // No new fault is served once the handler stops; then stop serving the network (no thread
    // touches the window after this), then release the window.
    stopping_.store(true, std::memory_order_release); // the calls failing now say nothing about the peers
    if (handler_) handler_->stop();
    if (sigbus_mode_) fault::uninstall_sigbus_mode();
    {
        std::lock_guard lock(sims_mu_);
        for (auto& s : sims_) s.n.reset();
        sims_.clear();
    }
    local_.reset();
    client_.reset();
    cache_.reset();
    window_.reset();
}

// ---- nodes ------------------------------------------------------------------------------------------

bool runtime::is_sim_node(node_id id) const noexcept {
    return id < config_.node_count && is_sim_[id].load(std::memory_order_relaxed);
}

node* runtime::sim_node(node_id id) noexcept {
    std::lock_guard lock(sims_mu_);
    for (auto& s : sims_)
        if (s.n->id() == id) return s.n.get();
    return nullptr;
}

runtime::add_result runtime::add_sim_node(node_id id, std::size_t bytes) {
    if (id >= config_.node_count) return add_result::out_of_range;
    std::lock_guard lock(sims_mu_);
    // The local node counts as one of the MAX_SIM_NODES in-process nodes once it is configured.
    if (id == config_.self) {
        if (local_sized_) return add_result::duplicate;
        if (sims_.size() + 1 > SERAPH_AETHER_MAX_SIM_NODES) return add_result::too_many;
        if (!local_->resize_home(bytes)) return add_result::failed;
        local_sized_ = true;
        return add_result::added;
    }
    if (is_sim_[id].load(std::memory_order_relaxed)) return add_result::duplicate;
    if (sims_.size() + (local_sized_ ? 1 : 0) >= SERAPH_AETHER_MAX_SIM_NODES) return add_result::too_many;
    if (!config_.peers.empty()) return add_result::failed; // a cluster of processes has no simulated nodes

    sim s;
    s.injector = std::make_unique<fault_injector>(config_.node_count);
    s.counters = std::make_unique<node_counters>();
    node::options o;
    o.self = id;
    o.node_count = config_.node_count;
    o.home_bytes = bytes;
    o.identity = local_identity{id, wire::random_u64() | 1, identity_.key};
    o.transport = transport_;
    o.peers = &peers_;
    o.injector = s.injector.get();
    o.timeout_ms = &timeout_ms_;
    runtime* self = this;
    o.is_passive = [self](node_id n) { return self->is_sim_node(n); };
    o.counters = s.counters.get();
    o.name = "aether-sim" + std::to_string(id);
    o.poll_ns = service_poll_ns(config_, threads_);
    o.priority = threads_;
    o.lease = leases_.terms();
    auto started = node::start(std::move(o), listen_endpoint{.address = peer_address::loopback(0)});
    if (!started) return add_result::failed;
    s.n = std::move(started.value());
    peers_.set_address(id, peer_address::loopback(s.n->port()));
    peers_.mark_known(id); // this process started it: a refusal later means it went down
    is_sim_[id].store(true, std::memory_order_relaxed);
    sims_.push_back(std::move(s));
    return add_result::added;
}

void runtime::set_node_online(node_id id, bool online) {
    if (id >= config_.node_count) return;
    if (id == config_.self) {
        local_->set_online(online);
        return;
    }
    if (node* n = sim_node(id)) {
        n->set_online(online);
        if (!online) {
            client_->close_idle(id);
            node_down(id);
        }
        return;
    }
    // A node in another process cannot be switched off from here: its path is cut instead.
    if (online)
        clear_failure(id);
    else
        inject_failure(id, void_reason::node_crashed);
}

void runtime::inject_failure(node_id id, void_reason reason) {
    if (id >= config_.node_count) return;
    clear_failure(id);
    if (reason == void_reason::none) return;
    injector_.set(id, reason);
    if (reason == void_reason::partition || reason == void_reason::node_crashed || reason == void_reason::unreachable) {
        client_->close_idle(id);
        peers_.mark_known(id); // it was up: the cut is what the detection code must report
    }
    if (reason == void_reason::node_crashed) node_down(id);
    if (reason == void_reason::permission || reason == void_reason::generation) {
        if (id == config_.self) {
            local_->set_refusal(id, reason);
            return;
        }
        wire::message m{.type = wire::msg::set_refusal, .arg0 = static_cast<std::uint64_t>(reason)};
        auto r = call(id, m, {}, op_deadline());
        if (!r) log::runtime().warn("could not ask node {} to refuse requests: {}", id, to_string(r.error().reason));
    }
}

void runtime::clear_failure(node_id id) {
    if (id >= config_.node_count) return;
    void_reason was = injector_.active(id);
    injector_.set(id, void_reason::none);
    if (was == void_reason::permission || was == void_reason::generation) {
        if (id == config_.self) {
            local_->set_refusal(id, void_reason::none);
            return;
        }
        wire::message m{.type = wire::msg::set_refusal, .arg0 = 0};
        auto r = call(id, m, {}, op_deadline());
        if (!r) log::runtime().warn("could not tell node {} to stop refusing requests: {}", id, to_string(r.error().reason));
    }
}

// ---- requests -------------------------------------------------------------------------------------

result<wire::message> runtime::call(node_id dst, const wire::message& m, std::span<std::byte> payload_out, deadline dl) {
    const std::uint64_t sent = now_ns();
    auto r = client_->call(dst, m, payload_out, dl);
    if (r.ok() && !trust_reply(dst, m.type, sent)) return failure::of(void_reason::timeout);
    return r;
}

bool runtime::trust_reply(node_id from, wire::msg asked, std::uint64_t sent_ns) noexcept {
    const std::uint64_t now = now_ns();
    peers_.heard_from(from, now);
    if (leases_.on_reply(from, sent_ns, now)) return true;
    // Only a copy depends on the lease; a late answer to anything else is as good as any.
    const bool grants_copy = asked == wire::msg::read_shared || asked == wire::msg::read_exclusive || asked == wire::msg::putback;
    if (!grants_copy) return true;
    bump(counters_.late_replies);
    return false;
}

result<wire::message> runtime::ask_home(const wire::message& m, std::span<std::byte> page_out, deadline dl) {
    const node_id home = node_of(m.address);
    if (home == config_.self) return ask_own_home(m, page_out, dl);
    return call(home, m, page_out, dl);
}

result<wire::message> runtime::ask_own_home(const wire::message& m, std::span<std::byte> page_out, deadline dl) {
    // The home writes its answer into the result this returns (one return of one object: it is
    // the caller's), so the message is not copied again on its way out.
    result<wire::message> answer{wire::message{}};
    local_->serve_local(home_request::of(config_.self, m), dl, page_out.empty() ? nullptr : page_out.data(), *answer);
    if (!answer->ok()) answer = answer->error();
    return answer;
}

result<std::uint64_t> runtime::alloc_on(node_id home, std::size_t bytes) {
    if (home >= config_.node_count || bytes == 0 || bytes > node_span)
        return failure{fetch_status::invalid_addr, void_reason::none};
    if (home == config_.self) {
        auto a = local_->allocate_local(bytes);
        if (!a) return a.error();
        return make_addr(home, std::uint64_t{a->first} * page_size);
    }
    auto r = call(home, wire::message{.type = wire::msg::alloc, .arg0 = bytes}, {}, op_deadline());
    if (!r) return r.error();
    return r->address;
}

result<std::uint64_t> runtime::alloc_here(std::size_t bytes, std::size_t install_bytes) {
    if (bytes == 0 || bytes > node_span) return failure{fetch_status::invalid_addr, void_reason::none};
    auto a = local_->allocate_local(bytes);
    if (!a) return a.error();
    const auto install = static_cast<std::uint32_t>(std::min<std::uint64_t>(page_ceil(install_bytes) / page_size, a->pages));
    local_->grant_exclusive_here(a->first, install);
    return make_addr(config_.self, std::uint64_t{a->first} * page_size);
}

void runtime::void_page_installed() noexcept {
    local_->exec().nudge(); // starts the VOID reaper
}

void runtime::fault_around_here(std::uint64_t page) noexcept {
    const std::uint32_t group = fault_around_here_.load(std::memory_order_relaxed);
    if (group <= 1 || node_of(page) != config_.self) return;
    local_->grant_exclusive_here(page_index_of(page) / group * group, group);
}

result<void> runtime::free(std::uint64_t addr) {
    node_id home = node_of(addr);
    if (home == config_.self) return local_->free_local(addr, op_deadline());
    auto r = call(home, wire::message{.type = wire::msg::free, .address = addr}, {}, op_deadline());
    if (!r) return r.error();
    return success();
}

result<void> runtime::acquire_page(std::uint64_t page, bool exclusive, std::byte* buf, deadline dl, bool from_fault,
                                   std::uint64_t* generation_out) {
    alignas(64) std::byte staging[page_size];
    std::byte* data = buf != nullptr ? buf : staging;
    for (;;) {
        // A copy still frozen by a failed write-back, or set aside while its home was down, holds
        // newer bytes than the home: they go home first, or the grant below would bring the home's
        // older ones.
        if (auto sent = send_unsent_home(page, data, dl); !sent) return sent.error();
        const bool had_copy = exclusive && cache_->state(page) == cache_state::shared;
        wire::msg op = exclusive ? wire::msg::read_exclusive : wire::msg::read_shared;
        std::uint16_t flags = (exclusive && !had_copy) ? wire::flag::need_data : 0;
        // If this node still counts as the owner there, what became of that copy's bytes decides
        // whether the home's are current (directory::owner_gave_up).
        const std::uint64_t given_up = cache_->given_up_generation(page);
        auto answer = ask_home(wire::message{.type = op, .flags = flags, .address = page, .arg0 = given_up},
                               std::span(data, page_size), dl);
        if (!answer) return answer.error();
        if (node_of(page) != config_.self) bump(counters_.remote_fetches);
        const std::uint32_t epoch = answer->epoch;
        const std::uint64_t generation = answer->arg0;
        const std::uint16_t reply_flags = answer->flags;
        if ((reply_flags & wire::flag::is_sharer) == 0 && answer->payload.size() != page_size)
            return failure{fetch_status::remote_error, void_reason::corruption};
        cache::install_result ir;
        if (exclusive && (reply_flags & wire::flag::is_sharer) != 0) {
            ir = cache_->upgrade(page, epoch, generation);
            if (ir == cache::install_result::installed && buf != nullptr) std::memcpy(buf, as_ptr(page), page_size);
        } else {
            ir = cache_->install(page, data, epoch, generation, exclusive, from_fault);
        }
        if (ir == cache::install_result::stale) {
            if (dl.expired()) return failure::of(void_reason::timeout);
            continue; // the grant crossed an invalidation: ask again
        }
        // The kernel refused the copy (UFFDIO_COPY: ENOMEM in a memory-limited cgroup). Not a
        // VOID: the memory is there, this process cannot map it (fault_resolver raises SIGBUS).
        if (ir == cache::install_result::failed) return failure{fetch_status::oom, void_reason::none};
        if (generation_out != nullptr) *generation_out = generation;
        return success();
    }
}

result<runtime::ahead_request> runtime::ask_ahead(std::uint64_t page, std::size_t following, deadline dl) {
    // As for any request for the page: bytes the home has not got go first (acquire_page).
    alignas(64) std::byte unsent[page_size];
    if (auto sent = send_unsent_home(page, unsent, dl); !sent) return sent.error();
    ahead_request rq;
    rq.page = page;
    rq.following = std::min<std::size_t>(following, wire::max_readahead);
    rq.sent_ns = now_ns();
    auto call = client_->start(node_of(page),
                               wire::message{.type = wire::msg::read_shared,
                                             .flags = wire::flag::readahead,
                                             .address = page,
                                             .arg0 = cache_->given_up_generation(page),
                                             .arg1 = rq.following},
                               dl);
    if (!call) return call.error();
    rq.call = std::move(call.value());
    return rq;
}

result<runtime::ahead_batch> runtime::receive_ahead(ahead_request& rq, std::span<std::byte> buf, deadline dl) {
    if (buf.size() < wire::readahead_payload_size(rq.following)) return failure{fetch_status::remote_error, void_reason::none};
    const std::uint64_t t0 = now_ns();
    auto r = client_->collect(rq.call, buf, dl);
    if (!r) return r.error();
    if (!trust_reply(node_of(rq.page), wire::msg::read_shared, rq.sent_ns)) return failure::of(void_reason::timeout);
    bump(counters_.remote_fetches);
    bump(counters_.readahead_batches);
    bump(counters_.readahead_receive_ns, now_ns() - t0);
    ahead_batch b;
    b.page = rq.page;
    b.granted = r->arg1;
    b.epoch = r->epoch;
    b.generation = r->arg0;
    if (b.granted > rq.following || r->payload.size() != wire::readahead_payload_size(b.granted))
        return failure{fetch_status::remote_error, void_reason::corruption};
    return b;
}

void runtime::install_ahead(const ahead_batch& b, std::span<const std::byte> buf) {
    std::span<const wire::readahead_grant> grants(
        reinterpret_cast<const wire::readahead_grant*>(buf.data() + (1 + b.granted) * page_size), b.granted);
    const std::uint64_t t0 = now_ns();
    bump(counters_.readahead_pages, cache_->install_following(b.page, b.granted, buf.data() + page_size, grants));
    // A page present already (another thread fetched it meanwhile) is as good as installed.
    cache_->install_if_absent(b.page, buf.data(), b.epoch, b.generation);
    bump(counters_.readahead_install_ns, now_ns() - t0);
}

bool runtime::read_hit(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation) noexcept {
    if (!cache_->read_if_present(addr, dest, len, generation)) return false;
    bump(counters_.cache_hits);
    return true;
}

result<void> runtime::read_page_chunk(std::uint64_t addr, void* dest, std::size_t len, std::uint64_t* generation) {
    if (read_hit(addr, dest, len, generation)) return success();
    bump(counters_.cache_misses);
    const std::uint64_t page = page_floor(addr);
    const deadline dl = op_deadline();
    for (;;) {
        switch (cache_->begin_fetch(page, false, dl)) {
        case cache::gate_result::timeout: return failure::of(void_reason::timeout);
        case cache::gate_result::present:
            if (cache_->read_if_present(addr, dest, len, generation)) return success();
            continue;
        case cache::gate_result::acquired: break;
        }
        alignas(64) std::byte buf[page_size];
        auto r = acquire_page(page, false, buf, dl, false, generation);
        cache_->end_fetch(page);
        if (!r) return r.error();
        std::memcpy(dest, buf + (addr - page), len);
        return success();
    }
}

namespace {

// Records the time from its making to its end in one of the node's latency histograms.
// Times a whole API call into `h`; with recording off it reads no clock at all.
class latency_clock {
public:
    latency_clock(node_latencies& l, latency_histogram& h) noexcept
        : h_(h),
          t0_(l.on.load(std::memory_order_relaxed) ? latency_ticks::now() : 0) {}
    ~latency_clock() {
        if (t0_ != 0) h_.record(latency_ticks::ns_between(t0_, latency_ticks::now()));
    }
    latency_clock(const latency_clock&) = delete;
    latency_clock& operator=(const latency_clock&) = delete;

private:
    latency_histogram& h_;
    std::uint64_t t0_; // 0: not recording
};

} // namespace

result<std::uint64_t> runtime::read(std::uint64_t addr, void* dest, std::size_t size, std::uint64_t* failed_at) {
    // A read of one page held here (a hit) is the common case, and about 30 ns of work: timing
    // each one (two clock readings and a record, about 13 ns) made it 1.3x dearer. Hits are timed
    // one in hit_sample_every, the one the hit counter says, and recorded with that weight, so the
    // histogram still counts them all (exactly, for one thread). Everything else is timed whole.
    if (addr - page_floor(addr) + size <= page_size) {
        node_latencies& l = counters_.latency;
        const bool sampled =
            l.on.load(std::memory_order_relaxed) && counters_.cache_hits.load(std::memory_order_relaxed) % hit_sample_every == 0;
        const std::uint64_t t0 = sampled ? latency_ticks::now() : 0;
        std::uint64_t generation = 0;
        if (read_hit(addr, dest, size, &generation)) {
            if (sampled) l.api_read.record(latency_ticks::ns_between(t0, latency_ticks::now()), hit_sample_every);
            return generation;
        }
    }
    latency_clock clock(counters_.latency, counters_.latency.api_read);
    auto* out = static_cast<std::byte*>(dest);
    std::uint64_t generation = 0;
    while (size > 0) {
        std::size_t chunk = std::min<std::size_t>(size, page_floor(addr) + page_size - addr);
        auto r = read_page_chunk(addr, out, chunk, &generation);
        if (!r) {
            *failed_at = addr;
            return r.error();
        }
        addr += chunk;
        out += chunk;
        size -= chunk;
    }
    return generation;
}

result<std::uint64_t> runtime::write(std::uint64_t addr, const void* src, std::size_t size, std::uint64_t* failed_at) {
    latency_clock clock(counters_.latency, counters_.latency.api_write);
    const auto* in = static_cast<const std::byte*>(src);
    std::uint64_t generation = 0;
    while (size > 0) {
        std::size_t chunk = std::min<std::size_t>(size, page_floor(addr) + page_size - addr);
        // The home invalidates every copy before it applies the bytes, this node's own included
        // (an exclusive copy here comes back first), so the write never leaves a copy behind.
        auto answer = ask_home(
            wire::message{.type = wire::msg::write_bytes, .address = addr, .payload = std::span<const std::byte>(in, chunk)}, {},
            op_deadline());
        if (!answer) {
            *failed_at = addr;
            return answer.error();
        }
        generation = answer->arg0;
        addr += chunk;
        in += chunk;
        size -= chunk;
    }
    return generation;
}

result<std::uint64_t> runtime::fetch_add(std::uint64_t addr, std::uint64_t delta) {
    auto answer = ask_home(wire::message{.type = wire::msg::fetch_add, .address = addr, .arg0 = delta}, {}, op_deadline());
    if (!answer) return answer.error();
    return answer->arg0;
}

result<runtime::cas_outcome> runtime::compare_swap(std::uint64_t addr, std::uint64_t expected, std::uint64_t desired) {
    auto answer = ask_home(wire::message{.type = wire::msg::compare_swap, .address = addr, .arg0 = expected, .arg1 = desired}, {},
                           op_deadline());
    if (!answer) return answer.error();
    return cas_outcome{answer->arg0, answer->arg1 != 0};
}

// ---- cluster coordination ---------------------------------------------------------------------------

// Names and barriers are this node's own coordinator's business (runtime/coordinator.hpp): it
// asks the other nodes itself, on the service thread.
result<void> runtime::barrier(std::uint32_t wait_ms) {
    const std::uint64_t seq = barrier_seq_.fetch_add(1, std::memory_order_relaxed) + 1;
    // The coordinator answers TIMEOUT at the caller's deadline; this thread waits a little longer.
    return local_->barrier_local(seq, wait_ms, deadline::after(milliseconds(std::uint64_t{wait_ms} + 500)));
}

result<void> runtime::publish(const std::string& name, std::uint64_t addr) {
    // The coordinator answers within one request deadline; this thread waits a little longer.
    return local_->publish_local(name, addr, deadline::after(milliseconds(std::uint64_t{timeout_ms()} + 500)));
}

result<std::uint64_t> runtime::lookup(const std::string& name, std::uint32_t wait_ms) {
    return local_->lookup_local(name, wait_ms,
                                deadline::after(milliseconds(std::uint64_t{std::max(wait_ms, timeout_ms())} + 1000)));
}

// ---- cache ------------------------------------------------------------------------------------------

result<runtime::putback_answer> runtime::write_back(std::uint64_t page, const std::byte* data, deadline dl) {
    auto answer = ask_home(
        wire::message{.type = wire::msg::putback, .address = page, .payload = std::span<const std::byte>(data, page_size)}, {},
        dl);
    if (!answer) return answer.error();
    return putback_answer{answer->arg1 != 0, answer->epoch};
}

// The page's gate is held from freezing the copy until the home answered: a fetch of the page
// (a store faulting meanwhile) then waits, instead of asking the home, whose bytes are older than
// the frozen copy's, for the page. Even when the home could not be told, the copy stays frozen
// (read-only) rather than lost: a later invalidation returns its bytes, and the next store sends
// them home first (send_unsent_home). Whether the home took the bytes or not, it records this node
// as a sharer, so a write elsewhere reaches the frozen copy even when the answer was lost.
result<bool> runtime::write_back_copy(std::uint64_t page, bool keep_shared) {
    const deadline dl = op_deadline();
    if (cache_->take_gate(page, dl) != cache::gate_result::acquired) return failure::of(void_reason::timeout);
    alignas(64) std::byte buf[page_size];
    result<bool> out = false;
    if (cache_->begin_drop(page, keep_shared, buf) == cache::drop_result::needs_writeback) {
        auto r = write_back(page, buf, dl);
        if (r) {
            finish_writeback(page, keep_shared, *r);
            out = true;
        } else {
            out = r.error();
        }
    }
    cache_->end_fetch(page);
    return out;
}

// A copy is kept (read-only) only when the home applied its bytes just now, and so recorded this
// node as a sharer of exactly these bytes. A putback the home did not apply means it no longer
// counts this node as the owner: its bytes are current or the page is gone, so the copy goes.
void runtime::finish_writeback(std::uint64_t page, bool keep_shared, const putback_answer& a) noexcept {
    cache_->finish_writeback(page, keep_shared && a.applied, a.epoch);
}

result<void> runtime::send_unsent_home(std::uint64_t page, std::byte* buf, deadline dl) {
    if (!cache_->may_have_unsent(page) || !cache_->copy_unsent(page, buf)) return success();
    auto r = write_back(page, buf, dl);
    if (!r) return r.error();
    finish_writeback(page, true, *r);
    return success();
}

result<void> runtime::drop_copy(std::uint64_t page) {
    auto r = write_back_copy(page, false);
    if (!r) return r.error();
    return success();
}

std::uint32_t runtime::flush_all() {
    std::vector<std::uint64_t> pages;
    cache_->for_each_present([&](std::uint64_t p) { pages.push_back(p); });
    cache_->for_each_aside([&](std::uint64_t p) { pages.push_back(p); });
    std::uint32_t flushed = 0;
    for (std::uint64_t page : pages) {
        auto r = write_back_copy(page, true);
        if (r && r.value()) ++flushed;
    }
    return flushed;
}

void runtime::clear_remote_copies() {
    std::vector<std::uint64_t> pages;
    auto remote = [&](std::uint64_t p) {
        if (node_of(p) != config_.self) pages.push_back(p);
    };
    cache_->for_each_present(remote);
    cache_->for_each_aside(remote);
    for (std::uint64_t page : pages) (void)drop_copy(page);
}

// ---- generations ------------------------------------------------------------------------------------

// A value from the home of `addr`: `local()` when that is this node, otherwise the reply's arg0 to `op`.
template <class Local>
result<std::uint64_t> runtime::value_from_home(std::uint64_t addr, wire::msg op, Local local) {
    const node_id home = node_of(addr);
    if (home == config_.self) return local();
    auto r = call(home, wire::message{.type = op, .address = addr}, {}, op_deadline());
    if (!r) return r.error();
    return r->arg0;
}

result<std::uint64_t> runtime::page_generation(std::uint64_t addr) {
    return value_from_home(addr, wire::msg::get_generation,
                           [&] { return local_->generation_local(wire::msg::get_generation, addr); });
}

result<std::uint64_t> runtime::capability_generation(std::uint64_t addr) {
    return value_from_home(addr, wire::msg::get_global_gen,
                           [&] { return local_->generation_local(wire::msg::get_global_gen, addr); });
}

result<std::uint64_t> runtime::revoke(std::uint64_t addr) {
    return value_from_home(addr, wire::msg::revoke, [&] { return local_->revoke_local(addr, op_deadline()); });
}

} // namespace aether
