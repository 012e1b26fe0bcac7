// The transport under hostile and broken peers: garbage bytes, wrong secrets, silence, damaged
// payloads, dead nodes. Real sockets and real node servers throughout.
#include <catch2/catch.hpp>

#include "runtime/runtime.hpp"
#include "runtime/void_reasons.hpp"
#include "transport/backends.hpp"
#include "transport/handshake.hpp"
#include "transport/sync_client.hpp"
#include "transport/wire.hpp"
#include "tests/unit/must_start.hpp"
#include "tests/unit/seccomp_errno.hpp"

#include <arpa/inet.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <thread>
#include <vector>

using namespace aether;

namespace {

struct in_process_cluster {
    explicit in_process_cluster(node_id n, std::uint32_t timeout_ms = 500) {
        runtime_config c;
        c.self = 0;
        c.node_count = n;
        c.home_bytes = 1 << 20;
        c.timeout_ms = timeout_ms;
        rt = test::must(runtime::create(c));
        for (node_id i = 1; i < n; ++i) REQUIRE(rt->add_sim_node(i, 1 << 20) == runtime::add_result::added);
    }
    std::unique_ptr<runtime> rt;
};

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

// True if the peer closed the connection within `ms` (reads drain whatever it sent first).
bool closed_by_peer(int fd, int ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

// A listening socket that plays a misbehaving node.
struct fake_peer {
    // Not `listening`: bound only, so the port stays this test's and a connect() to it is refused.
    explicit fake_peer(bool listening = true) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        if (listening) REQUIRE(::listen(fd, 8) == 0);
        socklen_t len = sizeof a;
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~fake_peer() { ::close(fd); }
    int fd;
    std::uint16_t port;
};

bool read_exact(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t r = ::recv(fd, p, n, 0);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// Catch2 assertions are not thread-safe: the fake peers' threads record problems here instead,
// and each test checks it on the main thread.
std::atomic<int> g_peer_errors{0};
void peer_expect(bool ok) {
    if (!ok) ++g_peer_errors;
}

// accept() that gives up after `ms`: -1 (and a peer error) if no client connected by then, so a
// fake peer's thread never blocks for ever and joining it cannot hang.
int accept_within(int listen_fd, int ms) {
    pollfd p{listen_fd, POLLIN, 0};
    int conn = ::poll(&p, 1, ms) > 0 ? ::accept(listen_fd, nullptr, nullptr) : -1;
    peer_expect(conn >= 0);
    return conn;
}

void write_frame(int fd, const wire::message& m, node_id source, std::uint64_t id) {
    wire::frame_header h = wire::make_header(m, source, id);
    peer_expect(::send(fd, &h, sizeof h, MSG_NOSIGNAL) == sizeof h);
    if (!m.payload.empty())
        peer_expect(::send(fd, m.payload.data(), m.payload.size(), MSG_NOSIGNAL) == ssize_t(m.payload.size()));
}

// Reads up to `count` requests (header and payload) on `conn`, handing each to
// `answer(index, header, payload)`; stops early at the end of the stream.
template <class Answer>
void answer_requests(int conn, int count, Answer answer) {
    for (int i = 0; i < count; ++i) {
        wire::frame_header req;
        if (!read_exact(conn, &req, sizeof req)) return;
        std::vector<std::byte> payload(req.payload_length);
        if (!payload.empty() && !read_exact(conn, payload.data(), payload.size())) return;
        answer(i, req, std::span<const std::byte>(payload));
    }
}

// Plays the server side of the handshake as node `self` with `key`; returns the client's node id.
node_id accept_handshake(int conn, node_id self, const wire::cluster_key& key) {
    wire::frame_header h;
    peer_expect(read_exact(conn, &h, sizeof h));
    peer_expect(wire::type_of(h) == wire::msg::hello);
    wire::nonce client_nonce;
    peer_expect(read_exact(conn, client_nonce.data(), client_nonce.size()));
    wire::nonce server_nonce = wire::random_nonce();
    wire::mac proof = key.server_proof(client_nonce, server_nonce, h.source, self);
    std::byte body[64];
    std::memcpy(body, server_nonce.data(), 32);
    std::memcpy(body + 32, proof.data(), 32);
    write_frame(conn, wire::message{.type = wire::msg::challenge, .arg0 = 77, .payload = std::span<const std::byte>(body)}, self,
                0);
    wire::frame_header auth;
    peer_expect(read_exact(conn, &auth, sizeof auth));
    std::byte mac[32];
    peer_expect(read_exact(conn, mac, sizeof mac));
    write_frame(conn, wire::message{.type = wire::msg::welcome}, self, 0);
    return h.source;
}

// A scripted node 1: listens on loopback and, once serve() is called, plays node 1 in a thread:
// accepts one connection (bounded), does the server side of the handshake with `key`, runs
// `script(conn)`, closes the connection. The thread is a std::jthread, joined even when a REQUIRE
// leaves the test early (declare the client after the node, so the client's pooled connections
// are closed first and the script sees the end of the stream).
struct scripted_node {
    explicit scripted_node(const std::string& secret = "s")
        : key(wire::cluster_key::from_secret(secret)) {}

    template <class Script>
    void serve(Script script) {
        server = std::jthread([listen_fd = peer.fd, key = key, script = std::move(script)]() mutable {
            int conn = accept_within(listen_fd, 5000);
            if (conn < 0) return;
            accept_handshake(conn, 1, key);
            script(conn);
            ::close(conn);
        });
    }
    // Waits for the script to end; true if it met nothing unexpected.
    bool finished_cleanly() {
        if (server.joinable()) server.join();
        return g_peer_errors.exchange(0) == 0;
    }

    fake_peer peer;
    wire::cluster_key key;
    std::jthread server;
};

// The transport of node 0 in a two-node cluster whose node 1 listens on `port`.
struct node0_client {
    node0_client(std::uint16_t port, std::uint64_t incarnation, const wire::cluster_key& key)
        : requester(
              with_void_reasons(std::make_unique<sync_client>(local_identity{0, incarnation, key}, peers, counters), peers)),
          sync(*requester) {
        peers.set_address(1, peer_address::loopback(port));
    }
    peer_table peers{2};
    transport_counters counters;
    // The synchronous client as the runtime stacks it: its failures get their VOID reasons.
    std::unique_ptr<request_transport> requester;
    request_transport& sync;
};

} // namespace

TEST_CASE("garbage bytes close that connection only; the node keeps serving", "[transport]") {
    in_process_cluster c(2);
    auto addr = c.rt->alloc_on(1, 4096);
    REQUIRE(addr.ok());
    node* n1 = c.rt->sim_node(1);
    REQUIRE(n1 != nullptr);

    std::mt19937_64 rng(7);
    for (int round = 0; round < 5; ++round) {
        int fd = connect_to(n1->port());
        std::vector<unsigned char> junk(1000 + round * 3000);
        for (auto& b : junk) b = static_cast<unsigned char>(rng());
        ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
        CHECK(closed_by_peer(fd, 2000));
        ::close(fd);
    }
    // A header that is well formed except for its checksum.
    {
        int fd = connect_to(n1->port());
        wire::frame_header h = wire::make_header(wire::message{.type = wire::msg::hello}, 0, 0);
        h.arg0 ^= 1; // breaks the header checksum
        ::send(fd, &h, sizeof h, MSG_NOSIGNAL);
        CHECK(closed_by_peer(fd, 2000));
        ::close(fd);
    }
    // A valid frame of the wrong kind before the handshake.
    {
        int fd = connect_to(n1->port());
        write_frame(fd, wire::message{.type = wire::msg::read_shared, .address = addr.value()}, 0, 1);
        CHECK(closed_by_peer(fd, 2000));
        ::close(fd);
    }
    // A truncated frame, then the client disappears.
    {
        int fd = connect_to(n1->port());
        wire::frame_header h = wire::make_header(wire::message{.type = wire::msg::hello}, 0, 0);
        ::send(fd, &h, 20, MSG_NOSIGNAL);
        ::close(fd);
    }
    // Still serving, on the connections that were fine and on new ones.
    std::uint64_t v = 0x5EED, back = 0, failed_at = 0;
    REQUIRE(c.rt->write(addr.value(), &v, 8, &failed_at).ok());
    REQUIRE(c.rt->read(addr.value(), &back, 8, &failed_at).ok());
    CHECK(back == v);
    CHECK(g_peer_errors.exchange(0) == 0);
}

TEST_CASE("a client with the wrong cluster secret is refused; the node keeps serving", "[transport]") {
    in_process_cluster c(2);
    auto addr = c.rt->alloc_on(1, 4096);
    REQUIRE(addr.ok());
    node0_client intruder(c.rt->sim_node(1)->port(), 1234, wire::cluster_key::from_secret("not the secret"));
    std::byte page[4096];
    auto r = intruder.sync.call(1, wire::message{.type = wire::msg::read_shared, .address = addr.value()}, page,
                                deadline::after(milliseconds(1000)));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == void_reason::permission);
    CHECK(intruder.counters.handshake_failures.load() == 1);
    std::uint64_t back = 0, failed_at = 0;
    CHECK(c.rt->read(addr.value(), &back, 8, &failed_at).ok());
}

namespace {

struct silent_call {
    bool set_up = true;           // prepare() succeeded
    std::optional<failure> error; // empty: the call succeeded (it must not)
    long long took_ms = 0;
    bool peer_clean = false;
};

// Node 0 calls a scripted node 1 that reads the request and never answers, with a 300 ms deadline,
// on a thread of its own after `prepare()` (which may restrict that thread). The script gives up
// after 2 s, so a caller that misses its deadline fails the test instead of hanging it.
template <class Prepare>
silent_call call_silent_peer(Prepare prepare) {
    scripted_node silent;
    std::atomic<bool> stop{false};
    silent.serve([&](int conn) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!stop.load() && std::chrono::steady_clock::now() < until) {
            char buf[256];
            pollfd p{conn, POLLIN, 0};
            if (::poll(&p, 1, 20) > 0 && ::recv(conn, buf, sizeof buf, 0) <= 0) break;
        }
    });
    silent_call out;
    std::thread caller([&] {
        if (!prepare()) {
            out.set_up = false;
            return;
        }
        node0_client client(silent.peer.port, 99, silent.key);
        auto t0 = std::chrono::steady_clock::now();
        auto r = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(300)));
        out.took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        if (!r) out.error = r.error();
    });
    caller.join();
    stop = true;
    out.peer_clean = silent.finished_cleanly();
    return out;
}

// From now on setsockopt(SO_RCVTIMEO) fails with EPERM on the calling thread, and nothing else does.
bool refuse_receive_timeouts_on_this_thread() {
    return test::fail_syscalls_with({__NR_setsockopt}, EPERM, 2 /* optname */, SO_RCVTIMEO);
}

void check_timed_out_at_deadline(const silent_call& c) {
    REQUIRE(c.set_up);
    CHECK(c.peer_clean);
    REQUIRE(c.error.has_value());
    CHECK(c.error->reason == void_reason::timeout);
    CHECK(c.took_ms >= 290);
    CHECK(c.took_ms < 800);
}

} // namespace

TEST_CASE("a peer that never answers: VOID TIMEOUT at the deadline, not later", "[transport]") {
    check_timed_out_at_deadline(call_silent_peer([] { return true; }));
}

// The caller waits in recvmsg bounded by the socket's receive timeout; a socket that refuses that
// option must not turn the wait into one without end.
TEST_CASE("a socket that refuses its receive timeout still ends the wait at the deadline", "[transport]") {
    check_timed_out_at_deadline(call_silent_peer([] { return refuse_receive_timeouts_on_this_thread(); }));
}

namespace {

// What node 0 meets calling node 1 at `port`, which never answered it, on both sides of the
// transport as the runtime stacks them: the caller's own thread (the fault path) and the service
// thread. Each failure is given its VOID reason by the same layer.
struct never_answered_calls {
    failure from_caller;
    failure from_service;
    long caller_ms = 0;
    long service_ms = 0;
};

struct no_requests : request_handler {
    void on_request(const inbound_request&, reply_token) noexcept override {}
};

never_answered_calls call_never_answered(std::uint16_t port, int deadline_ms) {
    never_answered_calls out;
    node0_client client(port, 9, wire::cluster_key::from_secret("s"));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(deadline_ms)));
    const auto t1 = std::chrono::steady_clock::now();
    out.caller_ms = std::chrono::duration_cast<milliseconds>(t1 - t0).count();
    REQUIRE_FALSE(r.ok());
    out.from_caller = r.error();

    auto backend = choose_transport("");
    REQUIRE(backend.ok());
    no_requests handler;
    transport_setup setup{
        .id = local_identity{0, 9, wire::cluster_key::from_secret("s")}, .peers = &client.peers, .counters = &client.counters};
    auto service = with_void_reasons(open_service(**backend, setup, handler), client.peers);
    REQUIRE(service->start(listen_endpoint{.address = peer_address::loopback(0)}).ok());
    std::promise<failure> got;
    const auto t2 = std::chrono::steady_clock::now();
    service->exec().post([&] {
        service->call(1, wire::message{.type = wire::msg::ping}, deadline::after(milliseconds(deadline_ms)),
                      [&](result<wire::message> answer) { got.set_value(answer.ok() ? failure{} : answer.error()); });
    });
    out.from_service = got.get_future().get();
    out.service_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t2).count();
    service->stop();
    return out;
}

void check_unreachable(const never_answered_calls& c, int deadline_ms) {
    INFO("caller: " << to_string(c.from_caller.reason) << " errno " << c.from_caller.code << " after " << c.caller_ms
                    << " ms; service: " << to_string(c.from_service.reason) << " errno " << c.from_service.code << " after "
                    << c.service_ms << " ms");
    CHECK(c.from_caller.reason == void_reason::unreachable);
    CHECK(c.from_caller.status == fetch_status::unreachable);
    CHECK(c.from_service.reason == void_reason::unreachable);
    CHECK(c.from_service.status == fetch_status::unreachable);
    CHECK(c.caller_ms < deadline_ms + 500);
    CHECK(c.service_ms < deadline_ms + 500);
}

} // namespace

// A node not started yet (its port refuses) and a node whose host drops the connection attempt
// (here a listener whose queue is full, so its SYNs go unanswered): neither has ever answered, so
// both sides say UNREACHABLE, at the latest at the deadline, not TIMEOUT (which says "it is there,
// and slow").
TEST_CASE("a node that never answered is UNREACHABLE on both sides of the transport", "[transport]") {
    constexpr int deadline_ms = 400;
    SECTION("nothing listens on its port yet: connections are refused until the deadline") {
        const fake_peer not_listening_yet(false);
        check_unreachable(call_never_answered(not_listening_yet.port, deadline_ms), deadline_ms);
    }
    SECTION("its connection attempts go unanswered") {
        fake_peer full;
        REQUIRE(::listen(full.fd, 0) == 0); // one connection fills its queue; it is never accepted
        std::vector<unique_fd> fillers;
        for (int i = 0; i < 3; ++i) {
            fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
            const peer_address a = peer_address::loopback(full.port);
            (void)::connect(fillers.back().get(), a.sa(), a.length);
        }
        check_unreachable(call_never_answered(full.port, deadline_ms), deadline_ms);
    }
}

TEST_CASE("a damaged payload from a peer is CORRUPTION, never delivered", "[transport]") {
    scripted_node liar;
    liar.serve([](int conn) {
        answer_requests(conn, 2, [conn](int, const wire::frame_header& req, std::span<const std::byte>) {
            std::byte page[4096];
            std::memset(page, 0x42, sizeof page);
            wire::message m{.type = wire::type_of(req), .flags = wire::flag::reply, .payload = std::span<const std::byte>(page)};
            wire::frame_header h = wire::make_header(m, 1, req.request_id);
            page[1000] = std::byte{0x43}; // changed after the checksum was computed: a bit flip on the way
            ::send(conn, &h, sizeof h, MSG_NOSIGNAL);
            ::send(conn, page, sizeof page, MSG_NOSIGNAL);
        });
    });
    node0_client client(liar.peer.port, 5, liar.key);
    std::byte page[4096];
    for (int i = 0; i < 2; ++i) {
        auto r = client.sync.call(1, wire::message{.type = wire::msg::read_shared, .address = make_addr(1, 0)}, page,
                                  deadline::after(milliseconds(1000)));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().reason == void_reason::corruption);
        CHECK(r.error().status == fetch_status::corruption);
    }
    CHECK(client.counters.corrupt_payloads.load() == 2);
    client.sync.close_all_idle(); // the peer reads until the end of the stream if fewer requests came
    CHECK(liar.finished_cleanly());
}

TEST_CASE("a peer that answers garbage fails the request without crashing", "[transport]") {
    scripted_node babbler;
    babbler.serve([](int conn) {
        wire::frame_header req;
        if (read_exact(conn, &req, sizeof req)) {
            std::vector<unsigned char> junk(500, 0xEE);
            ::send(conn, junk.data(), junk.size(), MSG_NOSIGNAL);
        }
        ::shutdown(conn, SHUT_WR);
        char b;
        while (::recv(conn, &b, 1, 0) > 0) {}
    });
    node0_client client(babbler.peer.port, 5, babbler.key);
    auto r = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(1000)));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().status == fetch_status::tcp_error);
    CHECK(client.counters.bad_frames.load() == 1);
    client.sync.close_all_idle();
    CHECK(babbler.finished_cleanly());
}

TEST_CASE("a node that dies is NODE_CRASHED; after it returns, requests work again", "[transport]") {
    in_process_cluster c(2);
    auto addr = c.rt->alloc_on(1, 4096);
    REQUIRE(addr.ok());
    std::uint64_t v = 17, back = 0, failed_at = 0;
    REQUIRE(c.rt->write(addr.value(), &v, 8, &failed_at).ok());
    c.rt->set_node_online(1, false);
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.rt->read(addr.value(), &back, 8, &failed_at);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == void_reason::node_crashed);
    CHECK(took < 200); // a refused connection is known at once; no need to wait for the deadline
    c.rt->set_node_online(1, true);
    REQUIRE(c.rt->read(addr.value(), &back, 8, &failed_at).ok());
    CHECK(back == 17);
}

TEST_CASE("many threads reading and writing concurrently get exact results", "[transport]") {
    in_process_cluster c(3, 2000);
    constexpr int threads = 6, per_thread = 200;
    std::vector<std::uint64_t> slots;
    for (int t = 0; t < threads; ++t) {
        auto a = c.rt->alloc_on(static_cast<node_id>(1 + t % 2), 4096);
        REQUIRE(a.ok());
        slots.push_back(a.value());
    }
    auto counter = c.rt->alloc_on(2, 64);
    REQUIRE(counter.ok());
    std::atomic<int> errors{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                std::uint64_t v = static_cast<std::uint64_t>(t) << 32 | static_cast<std::uint64_t>(i), back = 0, at = 0;
                if (!c.rt->write(slots[t] + 8 * (i % 16), &v, 8, &at).ok()) ++errors;
                if (!c.rt->read(slots[t] + 8 * (i % 16), &back, 8, &at).ok() || back != v) ++errors;
                if (!c.rt->fetch_add(counter.value(), 1).ok()) ++errors;
            }
        });
    }
    for (auto& th : pool) th.join();
    CHECK(errors.load() == 0);
    std::uint64_t total = 0, at = 0;
    REQUIRE(c.rt->read(counter.value(), &total, 8, &at).ok());
    CHECK(total == threads * per_thread);
}

// A putback the home applied but whose reply never arrived: the requester cannot tell whether the
// home has its bytes, and its copy stays frozen (readable). Whatever the home did, that copy must
// not outlive a later write by anyone: the home has to know to invalidate it.
TEST_CASE("a lost putback reply never leaves a stale copy behind", "[transport]") {
    in_process_cluster c(2, 300);
    auto addr = c.rt->alloc_on(1, 4096);
    REQUIRE(addr.ok());
    auto* word = reinterpret_cast<volatile std::uint64_t*>(addr.value());
    *word = 111; // an exclusive copy at node 0
    // (The state is read under the page's lock: the install wakes this thread a moment before the
    // handler thread, still holding that lock, records the new state.)
    REQUIRE(c.rt->local_cache().snapshot(addr.value()).state == cache_state::exclusive);

    fault_injector& home_path = c.rt->sim_node(1)->injector();
    home_path.set_reply_loss(0, true);
    auto dropped = c.rt->drop_copy(addr.value()); // the home takes the bytes; the reply is lost
    home_path.set_reply_loss(0, false);
    REQUIRE_FALSE(dropped.ok());
    CHECK(dropped.error().reason == void_reason::timeout);
    CHECK(*word == 111); // frozen, still readable

    std::uint64_t v = 222, back = 0, failed_at = 0;
    REQUIRE(c.rt->write(addr.value(), &v, 8, &failed_at).ok());
    CHECK(*word == 222);
    REQUIRE(c.rt->read(addr.value(), &back, 8, &failed_at).ok());
    CHECK(back == 222);
}

// A home that does not apply a putback (it no longer counts the sender as the owner: the page was
// declared lost, or an earlier putback whose reply was lost was applied) does not record the
// sender as a sharer of those bytes: the sender must not keep them as a shared copy, which no
// later write would invalidate. Node 1 here is a scripted home: it grants the page exclusive,
// then answers the flush's putback "not applied".
TEST_CASE("a putback the home did not apply leaves no copy behind", "[transport]") {
    const std::string secret = "putback-test";
    scripted_node home(secret);
    std::atomic<int> putbacks{0};
    home.serve([&putbacks](int conn) {
        answer_requests(conn, INT_MAX, [&putbacks, conn](int, const wire::frame_header& req, std::span<const std::byte>) {
            const wire::msg type = wire::type_of(req);
            std::byte page[4096];
            std::memset(page, 0, sizeof page);
            wire::message m{.type = type, .flags = wire::flag::reply};
            if (type == wire::msg::read_exclusive) {
                m.arg0 = 1;  // generation
                m.epoch = 1; // grant
                m.payload = std::span<const std::byte>(page);
            } else if (type == wire::msg::putback) {
                ++putbacks;
                m.arg1 = 0; // not applied
                m.epoch = 2;
            } else {
                peer_expect(false);
            }
            write_frame(conn, m, 1, req.request_id);
        });
    });
    std::unique_ptr<runtime> rt;
    {
        runtime_config c;
        c.self = 0;
        c.node_count = 2;
        c.home_bytes = 1 << 20;
        c.timeout_ms = 1000;
        c.secret = secret;
        std::uint16_t own_port = 0;
        {
            fake_peer spare; // a free port for node 0 to listen on (its listener is gone again below)
            own_port = spare.port;
        }
        c.peers = {"127.0.0.1:" + std::to_string(own_port), "127.0.0.1:" + std::to_string(home.peer.port)};
        rt = test::must(runtime::create(c));
    }
    const std::uint64_t page = make_addr(1, 0);
    *reinterpret_cast<volatile std::uint64_t*>(page) = 5; // the scripted home grants it exclusive
    REQUIRE(rt->local_cache().snapshot(page).state == cache_state::exclusive);
    CHECK(rt->flush_all() == 1); // a flush keeps a shared copy only when its putback was applied
    CHECK(putbacks.load() == 1);
    CHECK(rt->local_cache().snapshot(page).state == cache_state::invalid);
    rt.reset(); // closes the connection: the scripted home sees the end of the stream
    CHECK(home.finished_cleanly());
}

// The caller waits for a reply in recvmsg, bounded by a receive timeout the connection keeps from
// one request to the next: a request with a longer deadline than the previous one on the same
// connection must still wait for its whole deadline, not the previous one's.
TEST_CASE("a slow reply within a longer deadline arrives after a shorter deadline on that connection", "[transport]") {
    scripted_node slow;
    slow.serve([](int conn) {
        answer_requests(conn, 2, [conn](int i, const wire::frame_header& req, std::span<const std::byte>) {
            if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(400));
            write_frame(conn, wire::message{.type = wire::type_of(req), .flags = wire::flag::reply}, 1, req.request_id);
        });
        char end;
        peer_expect(::recv(conn, &end, 1, 0) == 0); // one connection served both requests
    });
    node0_client client(slow.peer.port, 7, slow.key);
    auto quick = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(100)));
    REQUIRE(quick.ok());
    auto t0 = std::chrono::steady_clock::now();
    auto patient = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(3000)));
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(patient.ok());
    CHECK(took >= 390);
    CHECK(client.counters.connects.load() == 1);
    client.sync.close_all_idle();
    CHECK(slow.finished_cleanly());
}

// A thread's io_uring is made only when it needs one (a connect, or a send the socket could not
// take at once): a thread that cannot have one still makes requests on a pooled connection, and a
// new connection it would need fails as VOID UNREACHABLE rather than anything worse.
TEST_CASE("a thread without an io_uring still makes requests on pooled connections", "[transport]") {
    scripted_node answering;
    answering.serve([](int conn) {
        answer_requests(conn, 2, [conn](int, const wire::frame_header& req, std::span<const std::byte>) {
            write_frame(conn, wire::message{.type = wire::type_of(req), .flags = wire::flag::reply}, 1, req.request_id);
        });
    });
    node0_client client(answering.peer.port, 3, answering.key);
    REQUIRE(client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(2000))).ok());
    bool set_up = false, pooled_ok = false;
    std::optional<failure> fresh_error;
    std::thread restricted([&] {
        set_up = test::fail_syscalls_with({__NR_io_uring_setup}, EPERM);
        if (!set_up) return;
        pooled_ok = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(2000))).ok();
        client.sync.close_all_idle(); // the next request needs a new connection, hence a ring
        auto r = client.sync.call(1, wire::message{.type = wire::msg::ping}, {}, deadline::after(milliseconds(500)));
        if (!r) fresh_error = r.error();
    });
    restricted.join();
    REQUIRE(set_up);
    CHECK(pooled_ok);
    REQUIRE(fresh_error.has_value());
    CHECK(fresh_error->reason == void_reason::unreachable);
    CHECK(answering.finished_cleanly());
}

TEST_CASE("a node serves on the listening socket it is handed, and refuses one that is not listening on its port",
          "[transport]") {
    fake_peer handed; // bound and listening on the node's port, as aether-run hands it over
    fake_peer elsewhere;
    runtime_config c;
    c.node_count = 1;
    c.home_bytes = 1 << 20;
    c.peers = {"127.0.0.1:" + std::to_string(handed.port)};

    c.listen_fd = ::dup(elsewhere.fd); // listening, but on another port
    auto refused = runtime::create(c);
    REQUIRE_FALSE(refused.ok());
    const std::string& error = refused.error().message;
    INFO(error);
    CHECK(error.find("AETHER_LISTEN_FD=" + std::to_string(c.listen_fd)) != std::string::npos);
    CHECK(error.find(std::strerror(EADDRNOTAVAIL)) != std::string::npos);
    CHECK(refused.error().code == EADDRNOTAVAIL);
    ::close(c.listen_fd);

    c.listen_fd = ::dup(handed.fd); // the runtime's from now on
    // Binding the port itself would fail: `handed` holds it (EADDRINUSE, the test above).
    auto rt = runtime::create(c);
    REQUIRE(rt.ok());
    CHECK((::fcntl(c.listen_fd, F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("AETHER_TRANSPORT: a backend this build lacks is an init error that lists the ones it has", "[transport]") {
    runtime_config c;
    c.node_count = 1;
    c.home_bytes = 1 << 20;
    c.transport = "carrier-pigeon";
    auto refused = runtime::create(c);
    REQUIRE_FALSE(refused.ok());
    const std::string& error = refused.error().message;
    CHECK(error.find("AETHER_TRANSPORT: ") == 0);
    CHECK(error.find("carrier-pigeon") != std::string::npos);
    CHECK(error.find("tcp") != std::string::npos);
    CHECK(refused.error().code == ENOENT);
    c.transport = "tcp";
    auto rt = runtime::create(c);
    CHECK(rt.ok());
}

TEST_CASE("a node that cannot listen says why, in the init error", "[transport]") {
    fake_peer taken; // a socket already listening on the port this node is told to use
    runtime_config c;
    c.node_count = 1;
    c.home_bytes = 1 << 20;
    c.peers = {"127.0.0.1:" + std::to_string(taken.port)};
    auto refused = runtime::create(c);
    REQUIRE_FALSE(refused.ok());
    const std::string& error = refused.error().message;
    INFO(error);
    CHECK(error.find("cannot start node 0: cannot listen on 127.0.0.1:" + std::to_string(taken.port)) != std::string::npos);
    CHECK(error.find(std::strerror(EADDRINUSE)) != std::string::npos);
    CHECK(refused.error().code == EADDRINUSE);
}

TEST_CASE("a peer whose name does not resolve is UNREACHABLE, not an init error", "[transport][resolve]") {
    fake_peer handed; // this node's own port
    runtime_config c;
    c.node_count = 2;
    c.home_bytes = 1 << 20;
    c.timeout_ms = 1000;
    c.peers = {"127.0.0.1:" + std::to_string(handed.port), "node1.aether-test.invalid:7000"};
    c.listen_fd = ::dup(handed.fd);
    auto rt = test::must(runtime::create(c));
    CHECK_FALSE(rt->peers().address(1));
    // Every request finds it UNREACHABLE within its deadline, the later ones after a new lookup.
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::uint64_t v = 0, failed_at = 0;
        const std::uint64_t start = now_ns();
        auto r = rt->read(make_addr(1, 4096 * attempt), &v, sizeof v, &failed_at);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().reason == void_reason::unreachable);
        CHECK(now_ns() - start < 1'000'000'000);
        std::this_thread::sleep_for(nanoseconds(2 * peer_table::retry_lookup_ns));
    }
}

TEST_CASE("only a node's own address must resolve at init, or its bind address", "[transport][resolve]") {
    fake_peer taken; // holds 127.0.0.1:port, so that only another address can be bound there
    runtime_config c;
    c.node_count = 2;
    c.home_bytes = 1 << 20;
    c.peers = {"node0.aether-test.invalid:" + std::to_string(taken.port), "127.0.0.1:1"};
    auto refused = runtime::create(c);
    REQUIRE_FALSE(refused.ok());
    INFO(refused.error().message);
    CHECK(refused.error().message.find("node0.aether-test.invalid") != std::string::npos);
    // Behind NAT: the others dial a name this host cannot resolve; it listens on an address of its own.
    c.bind = "127.0.0.2:" + std::to_string(taken.port);
    auto rt = test::must(runtime::create(c));
    CHECK(rt->local_node().port() == taken.port);
    // Listening on the bind address: another loopback address than 127.0.0.1, where `taken` is.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(taken.port);
    ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::close(fd);
}

namespace {

// In a child process with a private /etc/hosts (a mount namespace): a name missing from it at
// first and added later is looked up again and then used. 0: as expected; 77: no mount namespace
// here; other: the step that failed.
int name_added_later() {
    char dir[] = "/tmp/aether-hosts-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return 77;
    const std::string hosts = std::string(dir) + "/hosts";
    std::ofstream(hosts) << "127.0.0.1 localhost\n";
    pid_t child = ::fork();
    if (child == 0) {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount(hosts.c_str(), "/etc/hosts", nullptr, MS_BIND, nullptr) != 0)
            ::_exit(77);
        peer_table peers(2);
        if (peers.set_name(1, "late-node.aether-test:7001")) ::_exit(1);            // not there yet
        if (peers.resolve(1, deadline::after(milliseconds(2000)))) ::_exit(2);      // failed a moment ago
        std::ofstream(hosts, std::ios::app) << "127.0.0.9 late-node.aether-test\n"; // its host is up now
        if (peers.resolve(1, deadline::after(milliseconds(2000)))) ::_exit(3);      // not asked again so soon
        std::this_thread::sleep_for(nanoseconds(2 * peer_table::retry_lookup_ns));
        auto a = peers.resolve(1, deadline::after(milliseconds(2000)));
        if (!a) ::_exit(4);
        if (a->text != "late-node.aether-test:7001" || a->port() != 7001) ::_exit(5);
        if (!peers.address(1)) ::_exit(6); // kept: no lookup for the next request
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    std::remove(hosts.c_str());
    ::rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("a name that did not resolve is looked up again when it is needed, and used once it does", "[transport][resolve]") {
    const int outcome = name_added_later();
    if (outcome == 77) {
        WARN("skipped: no private mount namespace here to change /etc/hosts in");
        return;
    }
    CHECK(outcome == 0);
}

TEST_CASE("a numeric IPv6 address needs no lookup", "[transport][resolve]") {
    peer_table peers(1);
    REQUIRE(peers.set_name(0, "[::1]:7000"));
    auto a = peers.address(0);
    REQUIRE(a);
    CHECK(a->storage.ss_family == AF_INET6);
    CHECK(a->port() == 7000);
}

// UFFDIO_COPY refused (the kernel out of memory, say): the reading thread gets a failure and the
// node counts it (install_failures), with nothing logged on the fault path; the next read, the
// kernel willing again, installs the page.
TEST_CASE("a copy the kernel refuses to install fails the read, is counted, and the next read works", "[transport][install]") {
    in_process_cluster cluster(2);
    runtime& rt = *cluster.rt;
    auto allocated = rt.alloc_on(1, 4096);
    REQUIRE(allocated.ok());
    const std::uint64_t page = *allocated;
    const std::uint64_t written = 0x5eed;
    std::uint64_t failed_at = 0;
    REQUIRE(rt.write(page, &written, sizeof written, &failed_at).ok());
    rt.clear_remote_copies();
    REQUIRE(rt.local_cache().snapshot(page).state == cache_state::invalid);
    const std::uint64_t before = rt.counters().install_failures.load();

    bool set_up = false;
    std::optional<failure> refused;
    std::thread restricted([&] {
        set_up = test::fail_syscalls_with({__NR_ioctl}, ENOMEM, 1 /* request */, static_cast<std::uint32_t>(UFFDIO_COPY));
        if (!set_up) return;
        std::uint64_t v = 0, at = 0;
        auto r = rt.read(page, &v, sizeof v, &at);
        if (!r) refused = r.error();
    });
    restricted.join();
    REQUIRE(set_up);
    REQUIRE(refused.has_value());
    CHECK(refused->status == fetch_status::oom); // not a VOID: the memory is fine, this process cannot map it
    CHECK(rt.counters().install_failures.load() == before + 1);
    CHECK(rt.local_cache().snapshot(page).state == cache_state::invalid);

    std::uint64_t v = 0;
    REQUIRE(rt.read(page, &v, sizeof v, &failed_at).ok());
    CHECK(v == written);
    CHECK(rt.counters().install_failures.load() == before + 1);
}

// runtime::read times every read whole, except a cache hit: about 30 ns of work, which timing each
// one made 1.3x dearer. Hits are timed one in hit_sample_every and recorded with that weight, so
// the API read histogram still counts every read (exactly, with one thread reading).
TEST_CASE("the API read histogram: a miss timed whole, hits one in 64 with weight 64, every read counted", "[latency]") {
    in_process_cluster c(2);
    runtime& rt = *c.rt;
    const auto allocated = rt.alloc_on(1, page_size); // node 1's memory: the first read misses
    REQUIRE(allocated.ok());
    const std::uint64_t a = allocated.value();
    latency_histogram& h = rt.counters().latency.api_read;
    h.reset();
    std::uint64_t v = 0, failed_at = 0;
    REQUIRE(rt.read(a, &v, sizeof v, &failed_at).ok());
    CHECK(h.read().total == 1);
    const std::uint64_t sum_after_miss = h.read().sum_ns;
    CHECK(sum_after_miss > 0);

    const std::uint64_t hits = 10 * runtime::hit_sample_every + 7;
    const std::uint64_t hits_before = rt.counters().cache_hits.load();
    for (std::uint64_t i = 0; i < hits; ++i) REQUIRE(rt.read(a + 8, &v, sizeof v, &failed_at).ok());
    REQUIRE(rt.counters().cache_hits.load() - hits_before == hits);
    const auto s = h.read();
    // Ten or eleven samples of weight 64, as the hit counter lands: every hit counted, give or take
    // the 7 past the last whole 64.
    CHECK(s.total >= 1 + hits - 7);
    CHECK(s.total <= 1 + hits + runtime::hit_sample_every - 7);
    CHECK((s.total - 1) % runtime::hit_sample_every == 0);
    CHECK(s.sum_ns > sum_after_miss); // the samples were timed

    rt.counters().latency.on.store(false);
    h.reset();
    for (int i = 0; i < 200; ++i) REQUIRE(rt.read(a, &v, sizeof v, &failed_at).ok());
    CHECK(h.read().total == 0); // recording off: no clock, no record
    rt.counters().latency.on.store(true);
}
