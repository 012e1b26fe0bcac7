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
//
// An operator's tool (aetherctl --peer) shakes hands as node admin_client. It may not know which
// node listens at the address it dials: its hello names no_node, the challenge says who answers,
// and both proofs bind that node's id. A node hands an admin client's connection to its admin
// endpoint instead of treating it as a peer (runtime/admin/endpoint.hpp).
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "transport/wire.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace aether::wire {

inline constexpr std::size_t nonce_size = 32;
// The node id an operator's tool uses: above every node id a cluster can have.
inline constexpr node_id admin_client = 0xFFFE;
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

// What a handshake step made of the frame it was given.
enum class handshake_verdict {
    ok,
    unexpected, // not the frame this step expects (type, sender, size or checksum)
    not_proven, // the peer did not prove the cluster secret
};

// The two sides of the handshake as steps over decoded frames, shared by every transport: the
// blocking client (sync_client) and the service loop (event_loop) move the frames, these decide.
// The messages they return refer to the object's own buffers: send them before the next step.
class client_handshake {
public:
    client_handshake() = default;
    // `server`: the node expected at the other end; no_node (admin_client only): whichever answers.
    client_handshake(const cluster_key& key, node_id self, std::uint64_t incarnation, node_id server) noexcept;
    // The first frame.
    [[nodiscard]] message hello() const noexcept;
    // The server's challenge; when ok, auth() is the frame to send next.
    handshake_verdict on_challenge(const frame_header& h, std::span<const std::byte> payload) noexcept;
    [[nodiscard]] message auth() const noexcept;
    // The server's last frame.
    [[nodiscard]] bool on_welcome(const frame_header& h) const noexcept;
    [[nodiscard]] std::uint64_t server_incarnation() const noexcept { return server_incarnation_; }
    [[nodiscard]] node_id server() const noexcept { return server_; }

private:
    const cluster_key* key_ = nullptr;
    node_id self_ = 0;
    node_id server_ = 0;
    std::uint64_t incarnation_ = 0;
    std::uint64_t server_incarnation_ = 0;
    nonce nonce_{};
    mac proof_{};
};

class server_handshake {
public:
    server_handshake() = default;
    server_handshake(const cluster_key& key, node_id self, std::uint64_t incarnation, node_id node_count) noexcept;
    // A client's hello (for this node, from a node of the cluster or from admin_client, which may
    // name no_node for "whichever node this is"); when ok, challenge() is the frame to send next.
    handshake_verdict on_hello(const frame_header& h, std::span<const std::byte> payload) noexcept;
    [[nodiscard]] message challenge() const noexcept;
    // The client's proof; when ok, the connection is established (send a welcome).
    [[nodiscard]] handshake_verdict on_auth(const frame_header& h, std::span<const std::byte> payload) const noexcept;
    [[nodiscard]] node_id client() const noexcept { return client_; }
    [[nodiscard]] std::uint64_t client_incarnation() const noexcept { return client_incarnation_; }

private:
    const cluster_key* key_ = nullptr;
    node_id self_ = 0;
    node_id node_count_ = 0;
    node_id client_ = no_node;
    std::uint64_t incarnation_ = 0;
    std::uint64_t client_incarnation_ = 0;
    nonce client_nonce_{};
    nonce nonce_{};
    std::array<std::byte, nonce_size + mac_size> body_{}; // the challenge: our nonce, then our proof
};

} // namespace aether::wire
