// sync_client: the io_uring TCP backend's request_transport: requests made by the thread that
// needs the answer, on that thread.
//
// The calling thread takes an authenticated connection to the destination from a per-peer pool,
// sends the request with a direct sendmsg and waits for the reply itself, in recvmsg on the socket,
// up to the deadline (connects and sends the socket could not take at once go through its own
// thread-local io_uring). No other thread is involved, so a remote request costs one network round
// trip and no thread hand-off.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/result.hpp"
#include "transport/handshake.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"
#include "transport/wire.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace aether {

class sync_client final : public request_transport {
    struct channel;

public:
    sync_client(local_identity id, peer_table& peers, transport_counters& counters);
    ~sync_client() override;
    sync_client(const sync_client&) = delete;
    sync_client& operator=(const sync_client&) = delete;

    result<pending_call> start(node_id dst, const wire::message& m, deadline dl) noexcept override;
    result<wire::message> collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept override;

    // How long a caller polls for its reply before sleeping (0: sleep at once).
    void set_poll_ns(std::uint64_t ns) noexcept override { poll_ns_.store(ns, std::memory_order_relaxed); }

    // Closes every pooled connection (to one node, or to all).
    void close_idle(node_id dst) noexcept override;
    void close_all_idle() noexcept override;

private:
    // Idle connections to one node. A fixed array: taking and returning a connection allocates
    // nothing, so the fault path in sigbus mode (a signal handler) does not allocate once warm.
    static constexpr std::size_t max_idle = 64;
    struct pool {
        std::mutex mu;
        std::array<channel*, max_idle> idle{};
        std::size_t count = 0;
    };

    result<std::unique_ptr<channel>> acquire(node_id dst, deadline dl) noexcept;
    void release(std::unique_ptr<channel> ch) noexcept;
    result<std::unique_ptr<channel>> connect(node_id dst, deadline dl) noexcept;
    result<void> handshake(channel& ch, deadline dl) noexcept;
    failure transport_failed(node_id dst, failure f) noexcept;
    static void drop_channel(void* state) noexcept;

    local_identity id_;
    peer_table& peers_;
    transport_counters& counters_;
    std::unique_ptr<pool[]> pools_;
    std::atomic<std::uint64_t> poll_ns_{0};
};

} // namespace aether
