// The seam between the runtime and a network backend.
//
// A node talks to other nodes through two interfaces, both implemented by each backend:
//
//   service_transport   the node's service side: it accepts connections, hands each inbound
//                       request to a request_handler (decoded, verified) and sends replies; the
//                       home also makes its own asynchronous calls through it (invalidations,
//                       recalls). Its handlers, callbacks and timers run on one thread, its
//                       executor.
//   request_transport   the caller side: the thread that needs an answer sends the request and
//                       waits for the reply itself (the fault path: no hand-off to another
//                       thread).
//
// Both speak wire::message, decoded: the codec of a backend (for TCP, wire::make_header and
// wire::decode) is the only place a frame becomes a message and back. A failure of the path is
// the errno behind it and nothing else (failure::path: ETIME for a deadline that passed,
// ECONNREFUSED, EBADMSG for a damaged payload, ...; transport/path_error.hpp says what each means),
// never 0: a backend does not speak VOID reasons. The runtime gives each its reason once, as it
// leaves the transport (runtime/void_reasons.hpp). A failure the peer answered (its home's VOID)
// carries that peer's status and reason, and no errno.
//
// Backends are listed in transport/backends.hpp and chosen at start-up (AETHER_TRANSPORT).
// tests/unit/transport_contract_test.cpp holds every compiled backend to this contract.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/result.hpp"
#include "transport/handshake.hpp"
#include "transport/wire.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <utility>

namespace aether {

struct listen_endpoint;

// Who this node is on the wire.
struct local_identity {
    node_id self = 0;
    std::uint64_t incarnation = 0;
    wire::cluster_key key;
};

struct transport_counters {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> handshake_failures{0};
    std::atomic<std::uint64_t> bad_frames{0};       // connections closed for a malformed frame
    std::atomic<std::uint64_t> corrupt_payloads{0}; // payloads that failed their checksum
    std::atomic<std::uint64_t> timeouts{0};
};

// One thread that runs posted tasks, timers and a hook after every turn: where a node's service
// work happens. Separate from the transport so that work that is not network I/O (the VOID
// reaper, peer watch, the directory's deferred steps) does not depend on which backend runs.
class executor {
public:
    virtual ~executor() = default;
    // Any thread. Runs `task` on the executor's thread (one thread hand-off).
    virtual void post(std::function<void()> task) = 0;
    [[nodiscard]] virtual bool in_loop_thread() const noexcept = 0;
    // Executor thread. `fn` runs once `when` has passed, unless cancelled first.
    virtual std::uint64_t add_timer(deadline when, std::function<void()> fn) = 0;
    virtual void cancel_timer(std::uint64_t id) noexcept = 0;
    // Any thread, async-signal-safe: makes the executor take a turn (its turn hook runs).
    virtual void nudge() noexcept = 0;
    // Executor thread (or before start): `fn` runs after every turn.
    virtual void set_turn_hook(std::function<void()> fn) = 0;
    [[nodiscard]] virtual std::uint64_t posted_tasks() const noexcept = 0;
};

// Where the reply to one inbound request goes. Copyable and opaque: the backend that made it
// reads its words; a reply to a requester that has gone away in the meantime is dropped.
class reply_token {
public:
    reply_token() = default;
    reply_token(std::uint64_t route, std::uint64_t request_id, node_id requester, wire::msg type) noexcept
        : route_(route),
          request_id_(request_id),
          requester_(requester),
          type_(type) {}
    [[nodiscard]] node_id requester() const noexcept { return requester_; }
    [[nodiscard]] wire::msg type() const noexcept { return type_; }
    // For the backend that issued it.
    [[nodiscard]] std::uint64_t route() const noexcept { return route_; }
    [[nodiscard]] std::uint64_t request_id() const noexcept { return request_id_; }

private:
    std::uint64_t route_ = 0;
    std::uint64_t request_id_ = 0;
    node_id requester_ = no_node;
    wire::msg type_ = wire::msg::ping;
};

// An authenticated request whose payload passed its checksum. `message.payload` is valid during
// on_request only.
struct inbound_request {
    node_id from = no_node;
    wire::message message;
};

class request_handler {
public:
    virtual ~request_handler() = default;
    // Runs on the executor's thread. The handler replies inline or keeps the token and replies
    // later (service_transport::reply).
    virtual void on_request(const inbound_request& request, reply_token reply) noexcept = 0;
    // A node completed a handshake with a different incarnation than before: it restarted.
    virtual void on_peer_restarted(node_id) noexcept {}
    // An operator's tool (wire::admin_client) proved the cluster secret on this node's port. The
    // handler takes the connection, a byte stream on which nothing was sent since the challenge
    // (no welcome yet), and serves it off the executor (runtime/admin/endpoint.hpp). By default it
    // is closed: the tool reads that as "admin requests are not served here".
    virtual void on_admin_client(unique_fd stream) noexcept { (void)stream; }
};

// The answer to an asynchronous call: its payload is valid during the callback only.
using async_callback = std::function<void(result<wire::message>)>;

class service_transport {
public:
    virtual ~service_transport() = default;
    // Listens (port 0: any free port; or on the socket handed over) and starts the executor's
    // thread. Returns the bound port, or why it cannot (start-up: a setup_error).
    virtual setup_result<std::uint16_t> start(const listen_endpoint& listen_on) = 0;
    virtual void stop() noexcept = 0;
    [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
    // Any thread; returns once applied. Offline: the listener and every connection are closed,
    // and calls fail NODE_CRASHED, as if this node's process were gone.
    virtual void set_online(bool online) = 0;
    virtual executor& exec() noexcept = 0;

    // Executor thread only.
    virtual void reply(const reply_token& to, const wire::message& m) noexcept = 0;
    // Sends `m` to `dst`; `done` runs on the executor's thread with the reply or the failure, at
    // the latest when `dl` passes.
    virtual void call(node_id dst, const wire::message& m, deadline dl, async_callback done) noexcept = 0;
    // Keeps a connection to `dst` open, idle, so that its end is noticed (peer_table::suspect)
    // even while nothing is asked of that node.
    virtual void watch(node_id dst) noexcept = 0;
    // Hands queued sends to the network now rather than at the end of the executor's turn.
    virtual void flush() noexcept = 0;
    // Closes the connection this side opened to `dst`, if any; its calls in flight fail with
    // errno `err` (a layer that cuts the path to a node uses it).
    virtual void disconnect(node_id dst, int err) noexcept = 0;
};

// A request sent, its reply not yet collected (readahead asks for the next batch before it
// installs the current one). Move-only; one dropped uncollected releases what the backend held
// for it (for TCP its connection is closed: the reply would otherwise be read as the next call's).
// It holds no reference to the transport, so it may outlive it.
class pending_call {
public:
    using release_fn = void (*)(void* state) noexcept;

    pending_call() noexcept = default;
    pending_call(pending_call&& o) noexcept { *this = std::move(o); }
    pending_call& operator=(pending_call&& o) noexcept {
        if (this != &o) {
            release();
            state_ = std::exchange(o.state_, nullptr);
            release_ = std::exchange(o.release_, nullptr);
            id_ = o.id_;
            marks_ = o.marks_;
            dst_ = o.dst_;
        }
        return *this;
    }
    pending_call(const pending_call&) = delete;
    pending_call& operator=(const pending_call&) = delete;
    ~pending_call() { release(); }
    explicit operator bool() const noexcept { return dst_ != no_node; }

    // For backends (and decorators): a pending call, and its parts.
    pending_call(node_id dst, std::uint64_t id, void* state, release_fn release, std::uint32_t marks = 0) noexcept
        : state_(state),
          release_(release),
          id_(id),
          marks_(marks),
          dst_(dst) {}
    [[nodiscard]] node_id destination() const noexcept { return dst_; }
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
    [[nodiscard]] std::uint32_t marks() const noexcept { return marks_; }
    // Backends use the low 16 bits of the marks, layers over them the high 16.
    void mark(std::uint32_t bits) noexcept { marks_ |= bits; }
    // Takes the backend's state out; the call is spent.
    void* take_state() noexcept {
        dst_ = no_node;
        release_ = nullptr;
        return std::exchange(state_, nullptr);
    }

private:
    void release() noexcept {
        if (release_ != nullptr && state_ != nullptr) release_(state_);
        state_ = nullptr;
        release_ = nullptr;
        dst_ = no_node;
    }
    void* state_ = nullptr;
    release_fn release_ = nullptr;
    std::uint64_t id_ = 0;
    std::uint32_t marks_ = 0;
    node_id dst_ = no_node;
};

class request_transport {
public:
    virtual ~request_transport() = default;

    // Sends `m` to `dst` and waits for the reply. Its payload is written to `payload_out` (one
    // longer than that is a protocol error) and the returned message's payload points there. A
    // reply whose status is not ok is returned as its failure.
    result<wire::message> call(node_id dst, const wire::message& m, std::span<std::byte> payload_out, deadline dl) noexcept {
        auto p = start(dst, m, dl);
        if (!p) return p.error();
        return collect(p.value(), payload_out, dl);
    }
    virtual result<pending_call> start(node_id dst, const wire::message& m, deadline dl) noexcept = 0;
    // Waits for the reply of `p` (spent afterwards), as call() does.
    virtual result<wire::message> collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept = 0;

    // How long a caller polls for its reply before sleeping (0: sleep at once).
    virtual void set_poll_ns(std::uint64_t ns) noexcept = 0;
    // Closes the idle connections to one node, or to all.
    virtual void close_idle(node_id dst) noexcept = 0;
    virtual void close_all_idle() noexcept = 0;
};

// Bases for a layer stacked over a backend's side (fault injection, the runtime's VOID reasons):
// every operation goes to the side below unless the layer overrides it, so a layer says only what
// it changes.
class request_transport_layer : public request_transport {
public:
    explicit request_transport_layer(std::unique_ptr<request_transport> inner) noexcept
        : inner_(std::move(inner)) {}
    result<pending_call> start(node_id dst, const wire::message& m, deadline dl) noexcept override {
        return inner_->start(dst, m, dl);
    }
    result<wire::message> collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept override {
        return inner_->collect(p, payload_out, dl);
    }
    void set_poll_ns(std::uint64_t ns) noexcept override { inner_->set_poll_ns(ns); }
    void close_idle(node_id dst) noexcept override { inner_->close_idle(dst); }
    void close_all_idle() noexcept override { inner_->close_all_idle(); }

protected:
    request_transport& inner() noexcept { return *inner_; }

private:
    std::unique_ptr<request_transport> inner_;
};

class service_transport_layer : public service_transport {
public:
    explicit service_transport_layer(std::unique_ptr<service_transport> inner) noexcept
        : inner_(std::move(inner)) {}
    setup_result<std::uint16_t> start(const listen_endpoint& listen_on) override { return inner_->start(listen_on); }
    void stop() noexcept override { inner_->stop(); }
    [[nodiscard]] std::uint16_t port() const noexcept override { return inner_->port(); }
    void set_online(bool online) override { inner_->set_online(online); }
    executor& exec() noexcept override { return inner_->exec(); }
    void reply(const reply_token& to, const wire::message& m) noexcept override { inner_->reply(to, m); }
    void call(node_id dst, const wire::message& m, deadline dl, async_callback done) noexcept override {
        inner_->call(dst, m, dl, std::move(done));
    }
    void watch(node_id dst) noexcept override { inner_->watch(dst); }
    void flush() noexcept override { inner_->flush(); }
    void disconnect(node_id dst, int err) noexcept override { inner_->disconnect(dst, err); }

protected:
    service_transport& inner() noexcept { return *inner_; }

private:
    std::unique_ptr<service_transport> inner_;
};

} // namespace aether
