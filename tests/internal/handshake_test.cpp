// Unit tests of the handshake proofs: what each MAC binds, and the randomness it relies on.
#include <catch2/catch.hpp>

#include "transport/handshake.hpp"

#include <set>
#include <vector>

using namespace aether;
using namespace aether::wire;

namespace {

nonce filled_nonce(unsigned char seed) {
    nonce n;
    for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::byte>(seed + i * 7);
    return n;
}

struct inputs {
    nonce client = filled_nonce(1);
    nonce server = filled_nonce(100);
    node_id client_node = 3;
    node_id server_node = 17;
};

mac server_of(const cluster_key& k, const inputs& in) {
    return k.server_proof(in.client, in.server, in.client_node, in.server_node);
}
mac client_of(const cluster_key& k, const inputs& in) {
    return k.client_proof(in.client, in.server, in.client_node, in.server_node);
}

} // namespace

TEST_CASE("proofs are deterministic for a key and its inputs", "[handshake]") {
    const inputs in;
    auto a = cluster_key::from_secret("correct horse battery staple");
    auto b = cluster_key::from_secret("correct horse battery staple");
    CHECK(server_of(a, in) == server_of(b, in));
    CHECK(client_of(a, in) == client_of(b, in));
    CHECK(cluster_key::equal(server_of(a, in), server_of(b, in)));
    CHECK(cluster_key::equal(client_of(a, in), client_of(b, in)));
    // Not the all-zero MAC a missing computation would leave.
    CHECK(server_of(a, in) != mac{});
}

TEST_CASE("server and client proofs differ for the same inputs", "[handshake]") {
    const inputs in;
    auto k = cluster_key::from_secret("s");
    CHECK(server_of(k, in) != client_of(k, in));
    CHECK_FALSE(cluster_key::equal(server_of(k, in), client_of(k, in)));
}

TEST_CASE("every input of a proof is bound by it", "[handshake]") {
    const inputs base;
    const auto key = cluster_key::from_secret("cluster secret");
    const mac srv = server_of(key, base);
    const mac cli = client_of(key, base);

    auto differs = [&](const cluster_key& k, const inputs& in) {
        CHECK(server_of(k, in) != srv);
        CHECK(client_of(k, in) != cli);
        CHECK_FALSE(cluster_key::equal(srv, server_of(k, in)));
        CHECK_FALSE(cluster_key::equal(cli, client_of(k, in)));
    };

    SECTION("a different secret") {
        differs(cluster_key::from_secret("cluster secreT"), base);
        differs(cluster_key::from_secret(""), base);
        differs(cluster_key::from_secret("cluster secret "), base);
    }
    SECTION("a different client nonce, in its first or last byte") {
        inputs in = base;
        in.client[0] ^= std::byte{1};
        differs(key, in);
        in = base;
        in.client[nonce_size - 1] ^= std::byte{0x80};
        differs(key, in);
    }
    SECTION("a different server nonce, in its first or last byte") {
        inputs in = base;
        in.server[0] ^= std::byte{1};
        differs(key, in);
        in = base;
        in.server[nonce_size - 1] ^= std::byte{0x80};
        differs(key, in);
    }
    SECTION("the nonces swapped") {
        inputs in = base;
        std::swap(in.client, in.server);
        differs(key, in);
    }
    SECTION("a different client node, in its low or high byte") {
        inputs in = base;
        in.client_node = 4;
        differs(key, in);
        in.client_node = static_cast<node_id>(base.client_node + 0x100);
        differs(key, in);
    }
    SECTION("a different server node, in its low or high byte") {
        inputs in = base;
        in.server_node = 16;
        differs(key, in);
        in.server_node = static_cast<node_id>(base.server_node + 0x100);
        differs(key, in);
    }
    SECTION("the node ids swapped") {
        inputs in = base;
        std::swap(in.client_node, in.server_node);
        differs(key, in);
    }
}

TEST_CASE("equal compares exactly a MAC's length", "[handshake]") {
    const inputs in;
    auto k = cluster_key::from_secret("x");
    const mac m = server_of(k, in);
    std::vector<std::byte> same(m.begin(), m.end());
    CHECK(cluster_key::equal(m, same));

    std::vector<std::byte> longer = same;
    longer.push_back(std::byte{0});
    CHECK_FALSE(cluster_key::equal(m, longer));
    CHECK_FALSE(cluster_key::equal(m, std::span<const std::byte>(same).first(mac_size - 1)));
    CHECK_FALSE(cluster_key::equal(m, {}));

    for (std::size_t i = 0; i < mac_size; ++i) {
        auto damaged = same;
        damaged[i] ^= std::byte{0x10};
        INFO("byte " << i);
        CHECK_FALSE(cluster_key::equal(m, damaged));
    }
}

TEST_CASE("random nonces, numbers and keys differ", "[handshake]") {
    std::set<nonce> nonces;
    for (int i = 0; i < 64; ++i) nonces.insert(random_nonce());
    CHECK(nonces.size() == 64);

    std::set<std::uint64_t> numbers;
    for (int i = 0; i < 64; ++i) numbers.insert(random_u64());
    CHECK(numbers.size() == 64);

    // Keys are opaque: tell them apart by what they prove.
    const inputs in;
    std::set<mac> proofs;
    for (int i = 0; i < 16; ++i) proofs.insert(server_of(cluster_key::random(), in));
    CHECK(proofs.size() == 16);
    CHECK(proofs.count(server_of(cluster_key::from_secret(""), in)) == 0);
}

namespace {

// A frame as the other side decodes it: the header the sender built, and its payload.
struct sent {
    frame_header h;
    std::vector<std::byte> payload;
};
sent frame_of(const message& m, node_id source) {
    return sent{make_header(m, source, 0), std::vector<std::byte>(m.payload.begin(), m.payload.end())};
}

} // namespace

TEST_CASE("the two handshake steps complete each other with the same secret", "[handshake]") {
    const cluster_key key = cluster_key::from_secret("secret");
    client_handshake client(key, 3, 1111, 17);
    server_handshake server(key, 17, 2222, 32);
    const sent hello = frame_of(client.hello(), 3);
    REQUIRE(server.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
    CHECK(server.client() == 3);
    CHECK(server.client_incarnation() == 1111);
    const sent challenge = frame_of(server.challenge(), 17);
    REQUIRE(client.on_challenge(challenge.h, challenge.payload) == handshake_verdict::ok);
    CHECK(client.server_incarnation() == 2222);
    const sent auth = frame_of(client.auth(), 3);
    CHECK(server.on_auth(auth.h, auth.payload) == handshake_verdict::ok);
    CHECK(client.on_welcome(make_header(message{.type = msg::welcome}, 17, 0)));
    CHECK_FALSE(client.on_welcome(make_header(message{.type = msg::welcome}, 16, 0))); // not the node dialled
}

TEST_CASE("a handshake step refuses another secret, another node and a frame out of turn", "[handshake]") {
    const cluster_key key = cluster_key::from_secret("secret");
    const cluster_key other = cluster_key::from_secret("other secret");
    SECTION("the server does not know the secret: the client is not convinced") {
        client_handshake client(key, 3, 1, 17);
        server_handshake impostor(other, 17, 2, 32);
        const sent hello = frame_of(client.hello(), 3);
        REQUIRE(impostor.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
        const sent challenge = frame_of(impostor.challenge(), 17);
        CHECK(client.on_challenge(challenge.h, challenge.payload) == handshake_verdict::not_proven);
    }
    SECTION("the client does not know the secret: the server is not convinced") {
        client_handshake impostor(other, 3, 1, 17);
        server_handshake server(key, 17, 2, 32);
        const sent hello = frame_of(impostor.hello(), 3);
        REQUIRE(server.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
        const sent challenge = frame_of(server.challenge(), 17);
        // The impostor cannot check the server's proof either; it answers with its own.
        CHECK(impostor.on_challenge(challenge.h, challenge.payload) == handshake_verdict::not_proven);
        const std::vector<std::byte> guess(challenge.payload.begin(), challenge.payload.begin() + mac_size);
        const sent auth = frame_of(message{.type = msg::auth, .payload = guess}, 3);
        CHECK(server.on_auth(auth.h, auth.payload) == handshake_verdict::not_proven);
    }
    SECTION("a hello for another node, from outside the cluster, or of the wrong size") {
        server_handshake server(key, 17, 2, 32);
        const sent for_other = frame_of(client_handshake(key, 3, 1, 16).hello(), 3);
        CHECK(server.on_hello(for_other.h, for_other.payload) == handshake_verdict::unexpected);
        const sent outsider = frame_of(client_handshake(key, 40, 1, 17).hello(), 40);
        CHECK(server.on_hello(outsider.h, outsider.payload) == handshake_verdict::unexpected);
        const sent short_hello = frame_of(message{.type = msg::hello, .arg1 = 17}, 3);
        CHECK(server.on_hello(short_hello.h, short_hello.payload) == handshake_verdict::unexpected);
    }
    SECTION("a challenge from a node other than the one dialled") {
        client_handshake client(key, 3, 1, 17);
        server_handshake wrong(key, 18, 2, 32);
        const sent hello = frame_of(client_handshake(key, 3, 1, 18).hello(), 3);
        REQUIRE(wrong.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
        const sent challenge = frame_of(wrong.challenge(), 18);
        CHECK(client.on_challenge(challenge.h, challenge.payload) == handshake_verdict::unexpected);
    }
}

TEST_CASE("an operator's tool shakes hands with whichever node answers, and only a peer may name no node", "[handshake]") {
    const cluster_key key = cluster_key::from_secret("secret");
    SECTION("the tool learns the node's id from the challenge, and both proofs bind it") {
        client_handshake tool(key, admin_client, 0, no_node);
        server_handshake server(key, 17, 2222, 32);
        const sent hello = frame_of(tool.hello(), admin_client);
        REQUIRE(server.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
        CHECK(server.client() == admin_client);
        const sent challenge = frame_of(server.challenge(), 17);
        REQUIRE(tool.on_challenge(challenge.h, challenge.payload) == handshake_verdict::ok);
        CHECK(tool.server() == 17);
        const sent auth = frame_of(tool.auth(), admin_client);
        CHECK(server.on_auth(auth.h, auth.payload) == handshake_verdict::ok);
        CHECK(tool.on_welcome(make_header(message{.type = msg::welcome}, 17, 0)));
    }
    SECTION("a tool without the secret is refused, and refuses a node without it") {
        const cluster_key other = cluster_key::from_secret("other secret");
        client_handshake tool(other, admin_client, 0, no_node);
        server_handshake server(key, 17, 2, 32);
        const sent hello = frame_of(tool.hello(), admin_client);
        REQUIRE(server.on_hello(hello.h, hello.payload) == handshake_verdict::ok);
        const sent challenge = frame_of(server.challenge(), 17);
        CHECK(tool.on_challenge(challenge.h, challenge.payload) == handshake_verdict::not_proven);
        const std::vector<std::byte> guess(challenge.payload.begin(), challenge.payload.begin() + mac_size);
        const sent auth = frame_of(message{.type = msg::auth, .payload = guess}, admin_client);
        CHECK(server.on_auth(auth.h, auth.payload) == handshake_verdict::not_proven);
    }
    SECTION("a node of the cluster must name the node it dials") {
        server_handshake server(key, 17, 2, 32);
        const sent hello = frame_of(client_handshake(key, 3, 1, no_node).hello(), 3);
        CHECK(server.on_hello(hello.h, hello.payload) == handshake_verdict::unexpected);
        // And its client step does not take a challenge from whoever answers.
        client_handshake peer(key, 3, 1, no_node);
        server_handshake any(key, 17, 2, 32);
        const sent tool_hello = frame_of(client_handshake(key, admin_client, 0, no_node).hello(), admin_client);
        REQUIRE(any.on_hello(tool_hello.h, tool_hello.payload) == handshake_verdict::ok);
        const sent challenge = frame_of(any.challenge(), 17);
        CHECK(peer.on_challenge(challenge.h, challenge.payload) == handshake_verdict::unexpected);
    }
}
