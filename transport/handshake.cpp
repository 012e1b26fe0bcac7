// HMAC proofs for the connection handshake.
#include "transport/handshake.hpp"

#include <sodium.h>

#include <cstring>

namespace aether::wire {

namespace {

// sodium_init is idempotent and thread-safe; the runtime checks its result once at start-up.
void ensure_sodium() noexcept {
    if (sodium_init() < 0) { /* reported by the runtime, which checks it at start-up */
    }
}

} // namespace

cluster_key cluster_key::from_secret(std::string_view secret) {
    ensure_sodium();
    cluster_key k;
    crypto_generichash(k.key_.data(), k.key_.size(), reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       nullptr, 0);
    return k;
}

cluster_key cluster_key::random() {
    ensure_sodium();
    cluster_key k;
    randombytes_buf(k.key_.data(), k.key_.size());
    return k;
}

mac cluster_key::compute(char role, const nonce& client, const nonce& server, node_id client_node,
                         node_id server_node) const noexcept {
    unsigned char msg[1 + 2 * nonce_size + 4];
    msg[0] = static_cast<unsigned char>(role);
    std::memcpy(msg + 1, client.data(), nonce_size);
    std::memcpy(msg + 1 + nonce_size, server.data(), nonce_size);
    std::memcpy(msg + 1 + 2 * nonce_size, &client_node, 2);
    std::memcpy(msg + 3 + 2 * nonce_size, &server_node, 2);
    mac out;
    crypto_auth_hmacsha256(reinterpret_cast<unsigned char*>(out.data()), msg, sizeof msg, key_.data());
    return out;
}

mac cluster_key::server_proof(const nonce& client, const nonce& server, node_id client_node, node_id server_node) const noexcept {
    return compute('S', client, server, client_node, server_node);
}

mac cluster_key::client_proof(const nonce& client, const nonce& server, node_id client_node, node_id server_node) const noexcept {
    return compute('C', client, server, client_node, server_node);
}

bool cluster_key::equal(const mac& a, std::span<const std::byte> b) noexcept {
    return b.size() == a.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

nonce random_nonce() noexcept {
    ensure_sodium();
    nonce n;
    randombytes_buf(n.data(), n.size());
    return n;
}

std::uint64_t random_u64() noexcept {
    ensure_sodium();
    std::uint64_t v;
    randombytes_buf(&v, sizeof v);
    return v;
}

client_handshake::client_handshake(const cluster_key& key, node_id self, std::uint64_t incarnation, node_id server) noexcept
    : key_(&key),
      self_(self),
      server_(server),
      incarnation_(incarnation),
      nonce_(random_nonce()) {}

message client_handshake::hello() const noexcept {
    return message{.type = msg::hello, .arg0 = incarnation_, .arg1 = server_, .payload = std::span<const std::byte>(nonce_)};
}

handshake_verdict client_handshake::on_challenge(const frame_header& h, std::span<const std::byte> payload) noexcept {
    const bool any_server = server_ == no_node && self_ == admin_client;
    if (type_of(h) != msg::challenge || (h.source != server_ && !any_server) || h.source >= admin_client ||
        payload.size() != nonce_size + mac_size || !payload_ok(h, payload))
        return handshake_verdict::unexpected;
    if (any_server) server_ = h.source;
    nonce server_nonce;
    std::memcpy(server_nonce.data(), payload.data(), nonce_size);
    if (!cluster_key::equal(key_->server_proof(nonce_, server_nonce, self_, server_), payload.subspan(nonce_size)))
        return handshake_verdict::not_proven;
    server_incarnation_ = h.arg0;
    proof_ = key_->client_proof(nonce_, server_nonce, self_, server_);
    return handshake_verdict::ok;
}

message client_handshake::auth() const noexcept {
    return message{.type = msg::auth, .payload = std::span<const std::byte>(proof_)};
}

bool client_handshake::on_welcome(const frame_header& h) const noexcept {
    return type_of(h) == msg::welcome && h.source == server_;
}

server_handshake::server_handshake(const cluster_key& key, node_id self, std::uint64_t incarnation, node_id node_count) noexcept
    : key_(&key),
      self_(self),
      node_count_(node_count),
      incarnation_(incarnation) {}

handshake_verdict server_handshake::on_hello(const frame_header& h, std::span<const std::byte> payload) noexcept {
    const bool admin = h.source == admin_client;
    if (type_of(h) != msg::hello || (h.arg1 != self_ && !(admin && h.arg1 == no_node)) || (h.source >= node_count_ && !admin) ||
        payload.size() != nonce_size || !payload_ok(h, payload))
        return handshake_verdict::unexpected;
    client_ = h.source;
    client_incarnation_ = h.arg0;
    std::memcpy(client_nonce_.data(), payload.data(), nonce_size);
    nonce_ = random_nonce();
    const mac proof = key_->server_proof(client_nonce_, nonce_, client_, self_);
    std::memcpy(body_.data(), nonce_.data(), nonce_size);
    std::memcpy(body_.data() + nonce_size, proof.data(), mac_size);
    return handshake_verdict::ok;
}

message server_handshake::challenge() const noexcept {
    return message{.type = msg::challenge, .arg0 = incarnation_, .payload = std::span<const std::byte>(body_)};
}

handshake_verdict server_handshake::on_auth(const frame_header& h, std::span<const std::byte> payload) const noexcept {
    if (type_of(h) != msg::auth || h.source != client_ || !payload_ok(h, payload)) return handshake_verdict::unexpected;
    if (!cluster_key::equal(key_->client_proof(client_nonce_, nonce_, client_, self_), payload))
        return handshake_verdict::not_proven;
    return handshake_verdict::ok;
}

} // namespace aether::wire
