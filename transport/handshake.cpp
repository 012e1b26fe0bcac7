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

} // namespace aether::wire
