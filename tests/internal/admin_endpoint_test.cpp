// The admin socket (runtime/admin/endpoint.hpp) with real Unix sockets and what a careless or
// hostile client sends: junk, too much, nothing, a second node on the same path.
#include <catch2/catch.hpp>

#include "runtime/admin/admin_path.hpp"
#include "runtime/admin/endpoint.hpp"
#include "runtime/admin/metrics_endpoint.hpp"
#include "transport/peers.hpp"
#include "transport/handshake.hpp"
#include "transport/wire.hpp"

#include "aether/internal/clock.hpp"
#include "tests/unit/must_start.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

using namespace aether;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/aether-admin-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::string cmd = "rm -rf " + path;
        (void)!std::system(cmd.c_str());
    }
};

int connect_to(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    REQUIRE(::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return s;
}

// Sends `bytes` on `s` (all of them, or until the other end stops reading), returns everything it
// answers, and closes `s`.
std::string exchange(int s, const std::string& bytes) {
    (void)::send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(s);
    return out;
}

std::string talk(const std::string& path, const std::string& bytes) { return exchange(connect_to(path), bytes); }

} // namespace

TEST_CASE("the admin socket answers one line, and refuses junk without holding on to it", "[admin]") {
    temp_dir d;
    const std::string path = admin::socket_path(d.path, 3);
    std::atomic<int> asked{0};
    auto e = test::must(admin::endpoint::start(path, [&](std::string_view request) {
        ++asked;
        return "ok\nyou=" + std::string(request) + "\n";
    }));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0); // owner-only

    CHECK(talk(path, "stats\n") == "ok\nyou=stats\n");
    CHECK(talk(path, "page 0x1\r\n") == "ok\nyou=page 0x1\n");
    // More than a request may be, with no line end: an error, and the handler never sees it.
    CHECK(talk(path, std::string(10'000, 'x')).starts_with("error request longer than"));
    // Nothing at all within the time limit: an error, after about that long.
    const auto t0 = now_ns();
    {
        int s = connect_to(path);
        std::string out;
        char buf[256];
        for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        ::close(s);
        CHECK(out.starts_with("error no request within"));
    }
    CHECK(now_ns() - t0 < 3'000'000'000ull);
    CHECK(asked == 2);
    // Still serving.
    CHECK(talk(path, "nodes\n") == "ok\nyou=nodes\n");

    // A second endpoint on a path where one answers is refused; the first keeps it.
    auto second = admin::endpoint::start(path, [](std::string_view) { return std::string("ok\n"); });
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("a running node answers there") != std::string::npos);
    CHECK(second.error().code == EADDRINUSE);
    CHECK(talk(path, "stats\n") == "ok\nyou=stats\n");

    // Gone: the socket file goes with it.
    e.reset();
    CHECK(::access(path.c_str(), F_OK) != 0);
}

TEST_CASE("a socket file left by a node that died is taken over", "[admin]") {
    temp_dir d;
    const std::string path = admin::socket_path(d.path, 0);
    {
        // A bound, listening socket whose process "died": closed without removing the file.
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(s, 1) == 0);
        ::close(s);
    }
    REQUIRE(::access(path.c_str(), F_OK) == 0);
    auto e = test::must(admin::endpoint::start(path, [](std::string_view) { return std::string("ok\n"); }));
    CHECK(talk(path, "stats\n") == "ok\n");
}

TEST_CASE("the admin directory is made owner-only, and a directory others may enter is refused", "[admin]") {
    temp_dir d;
    const std::string made = d.path + "/a/b";
    REQUIRE(admin::make_private_dir(made).ok());
    struct stat st {};
    REQUIRE(::stat(made.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    const std::string open_dir = d.path + "/open";
    REQUIRE(::mkdir(open_dir.c_str(), 0755) == 0);
    auto refused = admin::make_private_dir(open_dir);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("0700") != std::string::npos);
    CHECK_FALSE(admin::make_private_dir("relative/dir").ok());
}

namespace {

// The operator's end of a stream the endpoint adopted (what aetherctl --peer does after the
// handshake): frames in, frames out.
struct framed_client {
    int fd;
    void send(const wire::message& m) const {
        const std::vector<std::byte> bytes = wire::frame_bytes(m, wire::admin_client, 7);
        REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
    }
    // The next frame; false when the stream ends first.
    bool next(wire::frame_header& h, std::string& payload) const {
        if (::recv(fd, &h, sizeof h, MSG_WAITALL) != static_cast<ssize_t>(sizeof h)) return false;
        REQUIRE(wire::check_header(h) == wire::header_check::ok);
        payload.resize(h.payload_length);
        if (h.payload_length > 0 &&
            ::recv(fd, payload.data(), payload.size(), MSG_WAITALL) != static_cast<ssize_t>(payload.size()))
            return false;
        REQUIRE(wire::payload_ok(h, std::as_bytes(std::span(payload.data(), payload.size()))));
        return true;
    }
};

std::pair<unique_fd, unique_fd> stream_pair() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    return {unique_fd(sv[0]), unique_fd(sv[1])};
}

// A stream handed to `e` as if from the cluster port, its welcome read.
struct adopted_stream {
    unique_fd ours;
    framed_client c{-1};
    adopted_stream(admin::endpoint& e, node_id self) {
        auto [mine, theirs] = stream_pair();
        ours = std::move(mine);
        c.fd = ours.get();
        e.adopt(std::move(theirs), self);
        wire::frame_header h{};
        std::string payload;
        REQUIRE(c.next(h, payload));
        REQUIRE(wire::type_of(h) == wire::msg::welcome);
    }
    bool closed_unanswered() const {
        wire::frame_header h{};
        std::string payload;
        return !c.next(h, payload);
    }
};

} // namespace

TEST_CASE("a stream adopted from the cluster port is welcomed and answered in frames, a large answer in pieces", "[admin]") {
    temp_dir d;
    // An answer four frames long: pieces of at most max_payload bytes, arg0 = 1 on all but the last.
    std::string big = "ok\n";
    while (big.size() < 3 * wire::max_payload + 100) big += "addr=0x110100000000\tstate=shared\tsharers=0,1,2\n";
    auto e = test::must(admin::endpoint::start(d.path + "/node-3.sock", [&](std::string_view request) {
        return request == "big" ? big : "ok\nasked=" + std::string(request) + "\n";
    }));
    auto [ours, theirs] = stream_pair();
    e->adopt(std::move(theirs), 3);
    framed_client c{ours.get()};
    wire::frame_header h{};
    std::string payload;
    REQUIRE(c.next(h, payload));
    CHECK(wire::type_of(h) == wire::msg::welcome);
    CHECK(h.source == 3);
    const std::string request = "big";
    c.send(wire::message{.type = wire::msg::admin, .payload = std::as_bytes(std::span(request.data(), request.size()))});
    std::string answer;
    int frames = 0;
    for (;;) {
        REQUIRE(c.next(h, payload));
        ++frames;
        CHECK(wire::type_of(h) == wire::msg::admin);
        CHECK(wire::is_reply(h));
        CHECK(h.request_id == 7);
        CHECK(payload.size() <= wire::max_payload);
        answer += payload;
        if (h.arg0 == 0) break;
    }
    CHECK(frames == 4);
    CHECK(answer == big);
    CHECK_FALSE(c.next(h, payload)); // one request per stream: then it is closed
}

TEST_CASE("an adopted stream that sends anything but one admin request is closed unanswered", "[admin]") {
    temp_dir d;
    std::atomic<int> answered{0};
    auto e = test::must(admin::endpoint::start(d.path + "/node-0.sock", [&](std::string_view) {
        ++answered;
        return std::string("ok\n");
    }));
    SECTION("junk bytes") {
        adopted_stream a(*e, 0);
        std::string junk(200, '\x5a');
        (void)::send(a.ours.get(), junk.data(), junk.size(), MSG_NOSIGNAL);
        CHECK(a.closed_unanswered());
    }
    SECTION("another message type") {
        adopted_stream a(*e, 0);
        a.c.send(wire::message{.type = wire::msg::read_shared, .address = 0x110000000000});
        CHECK(a.closed_unanswered());
    }
    SECTION("a request longer than a line may be") {
        adopted_stream a(*e, 0);
        const std::string longer(admin::endpoint::max_request + 1, 's');
        a.c.send(wire::message{.type = wire::msg::admin, .payload = std::as_bytes(std::span(longer.data(), longer.size()))});
        CHECK(a.closed_unanswered());
    }
    SECTION("nothing at all: dropped after the client timeout") {
        adopted_stream a(*e, 0);
        const std::uint64_t t0 = now_ns();
        CHECK(a.closed_unanswered());
        CHECK(now_ns() - t0 < 3'000'000'000ULL);
    }
    CHECK(answered == 0);
}

namespace {

// Sends `bytes` to the metrics endpoint at host:port and returns everything it answers.
std::string http(const std::string& address, const std::string& bytes) {
    const auto where = peer_address::parse(address);
    REQUIRE(where);
    const int s = ::socket(where->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    REQUIRE(::connect(s, where->sa(), where->length) == 0);
    return exchange(s, bytes);
}

} // namespace

TEST_CASE("the metrics endpoint serves GET /metrics and answers anything else with an HTTP error", "[admin]") {
    std::atomic<int> rendered{0};
    auto m = test::must(admin::metrics_endpoint::start("127.0.0.1:0", [&] {
        ++rendered;
        return std::string("aether_up{node=\"0\"} 1\n");
    }));
    const std::string at = m->address();
    CHECK(at.rfind("127.0.0.1:", 0) == 0);
    CHECK(at != "127.0.0.1:0"); // the port the kernel chose
    CHECK(http(at, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").find("200 OK") != std::string::npos);
    CHECK(rendered == 1);
    CHECK(http(at, "POST /metrics HTTP/1.1\r\n\r\n").find("405") != std::string::npos);
    CHECK(http(at, "GET /etc/passwd HTTP/1.1\r\n\r\n").find("404") != std::string::npos);
    std::string junk;
    for (int i = 0; i < 300; ++i) junk += static_cast<char>((i * 131 + 7) % 256);
    CHECK(http(at, junk + "\r\n\r\n").find("405") != std::string::npos);
    // A head that never ends: refused once it passes the limit, not kept growing.
    CHECK(http(at, std::string(admin::metrics_endpoint::max_head + 4096, 'A')).find("400") != std::string::npos);
    // Nothing at all: answered 400 after the client timeout, the thread free again.
    const std::uint64_t t0 = now_ns();
    CHECK(http(at, "GET /metr").find("400") != std::string::npos);
    CHECK(now_ns() - t0 < 3'000'000'000ULL);
    CHECK(rendered == 1);
    CHECK(http(at, "GET /metrics HTTP/1.0\r\n\r\n").find("aether_up{node=\"0\"} 1") != std::string::npos);
    CHECK(rendered == 2);
}

TEST_CASE("a peer address takes port 0 only where a listener asks for any port", "[admin]") {
    CHECK_FALSE(peer_address::parse("127.0.0.1:0"));
    CHECK(peer_address::parse("127.0.0.1:0", peer_address::port_zero::allowed));
    CHECK_FALSE(peer_address::parse("127.0.0.1:65536", peer_address::port_zero::allowed));
    CHECK(peer_address::parse("127.0.0.1:7000"));
}

TEST_CASE("streams adopted while the admin thread is busy wait, at most 16; more are closed at once", "[admin]") {
    temp_dir d;
    auto e = test::must(admin::endpoint::start(d.path + "/node-0.sock", [](std::string_view) { return std::string("ok\n"); }));
    // The first stream, welcomed and silent, holds the admin thread (until it ends, or 1 s).
    auto blocker = std::make_unique<adopted_stream>(*e, 0);
    std::vector<unique_fd> ours;
    for (int i = 0; i < 20; ++i) {
        auto [mine, theirs] = stream_pair();
        e->adopt(std::move(theirs), 0);
        ours.push_back(std::move(mine));
    }
    // The four beyond the limit are closed at once, without a word.
    const std::size_t limit = admin::socket_server::max_adopted;
    for (std::size_t i = limit; i < ours.size(); ++i) {
        INFO("stream " << i);
        wire::frame_header h{};
        std::string payload;
        CHECK_FALSE(framed_client{ours[i].get()}.next(h, payload));
    }
    // The sixteen get their welcome, one after the other, once the thread is free again.
    blocker.reset();
    for (std::size_t i = 0; i < limit; ++i) {
        INFO("stream " << i);
        wire::frame_header h{};
        std::string payload;
        REQUIRE(framed_client{ours[i].get()}.next(h, payload));
        CHECK(wire::type_of(h) == wire::msg::welcome);
        ours[i].reset(); // it asks nothing: the thread moves on to the next
    }
}
