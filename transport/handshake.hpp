// Connection set-up: mutual challenge-response with the cluster secret (HMAC-SHA-256, libsodium).
//
//   client -> server  hello      source=client, arg0=client incarnation, arg1=expected server id,
//                                payload = client nonce (32 B)
//   server -> client  challenge  source=server, arg0=server incarnation,
//                                payload = server nonce (32 B) | HMAC(key, "srv" | nonces | ids)
//   client -> server  auth       payload = HMAC(key, "cli" | nonces | ids)
//   server -> client  welcome    (or the connection is closed)
//
// The server proves itself before the client does, and both MACs bind both node ids, so a frame
// replayed from another connection or a connection to the wrong port is rejected.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace aether::wire {

inline constexpr std::size_t nonce_size = 32;
inline constexpr std::size_t mac_size = 32;
using nonce = std::array<std::byte, nonce_size>;
using mac = std::array<std::byte, mac_size>;

// The key every node derives from the cluster secret.
class cluster_key {
public:
    cluster_key() = default;
    static cluster_key from_secret(std::string_view secret);
    static cluster_key random();

    [[nodiscard]] mac server_proof(const nonce& client, const nonce& server, node_id client_node,
                                   node_id server_node) const noexcept;
    [[nodiscard]] mac client_proof(const nonce& client, const nonce& server, node_id client_node,
                                   node_id server_node) const noexcept;
    static bool equal(const mac& a, std::span<const std::byte> b) noexcept;

private:
    mac compute(char role, const nonce& client, const nonce& server, node_id client_node, node_id server_node) const noexcept;
    std::array<unsigned char, 32> key_{};
};

nonce random_nonce() noexcept;
std::uint64_t random_u64() noexcept;

} // namespace aether::wire
