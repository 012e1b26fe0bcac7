// peer_socket: how every TCP connection between nodes is set up, whichever side opens it: the
// socket options, and the back-off between attempts to reach a node that refuses connections
// (it may still be starting).
#pragma once
#include "aether/internal/guard.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>

namespace aether {

// Without a FIN or RST, TCP itself gives up on a peer host that vanished after this long.
inline constexpr std::uint32_t peer_user_timeout_ms = 10'000;

// No delay for small frames (requests are latency-bound), keepalive on idle connections, and a
// bound on how long unacknowledged data may wait for a peer that is gone.
inline void configure_peer_socket(int fd, std::uint32_t user_timeout_ms = peer_user_timeout_ms) noexcept {
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    unsigned ut = user_timeout_ms;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);
}

// Connecting to a node that refused: wait first_connect_backoff_ns, then twice as long each time,
// at most max_connect_backoff_ns.
inline constexpr std::uint64_t first_connect_backoff_ns = 2'000'000;
inline constexpr std::uint64_t max_connect_backoff_ns = 100'000'000;
constexpr std::uint64_t next_connect_backoff(std::uint64_t ns) noexcept {
    return std::min<std::uint64_t>(ns * 2, max_connect_backoff_ns);
}

} // namespace aether
