// event_loop: the io_uring TCP backend's service_transport, and its executor: a node's service thread. One io_uring drives the listener, every inbound connection,
// the node's own outbound calls (invalidations and recalls a home sends), timers and tasks posted by
// other threads.
//
// Requests are handed to a request_handler on this thread as soon as their frame is complete; the
// handler answers inline (the common case: no hand-off) or keeps the reply token and answers later,
// for example when the acknowledgements of the invalidations it sent have arrived.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/result.hpp"
#include "aether/internal/thread_priority.hpp"
#include "transport/peers.hpp"
#include "transport/sync_client.hpp"
#include "transport/transport.hpp"
#include "transport/wire.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace aether {

class event_loop final : public service_transport, public executor {
public:
    struct options {
        local_identity id;
        peer_table* peers = nullptr;
        transport_counters* counters = nullptr;
        std::string name = "aether-loop";
        // After serving something, poll this long for the next event before sleeping.
        std::uint64_t poll_ns = 0;
        // The loop thread's scheduling (see thread_priority.hpp).
        thread_priority priority = thread_priority::normal;
    };

    event_loop(options opts, request_handler& handler);
    ~event_loop() override;
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // Binds the listener (port 0: any free port) or takes over the one handed over, and starts the
    // thread. Returns the bound port.
    setup_result<std::uint16_t> start(const listen_endpoint& listen_on) override;
    void stop() noexcept override;
    [[nodiscard]] std::uint16_t port() const noexcept override;

    // Any thread. Runs `task` on the loop thread (one thread hand-off, counted).
    void post(std::function<void()> task) override;
    // Any thread; returns once applied. Offline: the listener and every connection are closed.
    void set_online(bool online) override;
    [[nodiscard]] bool in_loop_thread() const noexcept override;

    // Loop thread only.
    void reply(const reply_token& r, const wire::message& m) noexcept override;
    void call(node_id dst, const wire::message& m, deadline dl, async_callback cb) noexcept override;
    // Keeps a connection to `dst` open (opened now if there is none), idle, so that its end is
    // noticed (peer_table::suspect) even while nothing is asked of that node.
    void watch(node_id dst) noexcept override;
    void disconnect(node_id dst, int err) noexcept override;
    std::uint64_t add_timer(deadline when, std::function<void()> fn) override;
    // Hands the queued sends to the kernel now rather than at the next turn of the loop.
    void flush() noexcept override;
    // Any thread, async-signal-safe: makes the loop take a turn (its turn hook runs).
    void nudge() noexcept override;
    // Loop thread (or before start): `fn` runs on the loop thread after every turn.
    void set_turn_hook(std::function<void()> fn) override;
    void cancel_timer(std::uint64_t id) noexcept override;

    [[nodiscard]] std::uint64_t posted_tasks() const noexcept override;
    executor& exec() noexcept override { return *this; }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace aether
