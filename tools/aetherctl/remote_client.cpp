#include "remote_client.hpp"

#include "aether/internal/fd.hpp"
#include "transport/frame_reader.hpp"
#include "transport/handshake.hpp"
#include "transport/peers.hpp"
#include "transport/wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace aetherctl {
namespace {

namespace wire = aether::wire;
using clock = std::chrono::steady_clock;

int ms_left(clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

// A TCP connection to host:port (the form the nodes' addresses take) within the time left; on
// failure, why.
aether::unique_fd dial(const std::string& address, clock::time_point until, std::string& why) {
    const auto where = aether::peer_address::parse(address);
    if (!where) {
        why = "\"" + address + "\" is not host:port, or its host does not resolve";
        return {};
    }
    aether::unique_fd s(::socket(where->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (s.get() < 0) {
        why = std::string("cannot make a socket: ") + std::strerror(errno);
        return {};
    }
    int rc = ::connect(s.get(), where->sa(), where->length);
    if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{s.get(), POLLOUT, 0};
        if (::poll(&p, 1, ms_left(until)) <= 0) {
            why = "no connection to " + address + " within the time allowed (a host that drops packets, or a cut link)";
            return {};
        }
        int err = 0;
        socklen_t len = sizeof err;
        (void)::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        errno = err;
        rc = err == 0 ? 0 : -1;
    }
    if (rc != 0) {
        why = errno == ECONNREFUSED ? "nothing listens at " + address + " (connection refused: the node is gone, or another port)"
                                    : "cannot connect to " + address + ": " + std::strerror(errno);
        return {};
    }
    (void)::fcntl(s.get(), F_SETFL, ::fcntl(s.get(), F_GETFL) & ~O_NONBLOCK);
    return s;
}

bool send_frame(int s, const wire::message& m, std::uint64_t request_id) {
    const std::vector<std::byte> bytes = wire::frame_bytes(m, wire::admin_client, request_id);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(s, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

enum class got { frame, closed, timeout, garbage };

// The next frame from `s`, reassembled by `in`, whose header and payload check out; its payload
// is valid until the next call.
got read_frame(int s, wire::frame_reader& in, wire::frame_view& f, clock::time_point until) {
    for (;;) {
        switch (in.next(f)) {
        case wire::frame_reader::status::frame: return wire::payload_ok(f.header, f.payload) ? got::frame : got::garbage;
        case wire::frame_reader::status::bad_header: return got::garbage;
        case wire::frame_reader::status::need_more: break;
        }
        pollfd p{s, POLLIN, 0};
        const int ready = ::poll(&p, 1, ms_left(until));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return got::timeout;
        const std::span<std::byte> room = in.writable();
        const ssize_t r = ::recv(s, room.data(), room.size(), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got::closed;
        in.commit(static_cast<std::size_t>(r));
    }
}

std::string said(got g, const std::string& address, int timeout_ms, const char* waiting_for) {
    switch (g) {
    case got::closed: return "the node at " + address + " closed the connection while aetherctl waited for " + waiting_for;
    case got::timeout:
        return "the node at " + address + " did not answer within " + std::to_string(timeout_ms) + " ms (waiting for " +
               waiting_for + ")";
    case got::garbage: return "what came from " + address + " is not the Aether protocol (another program, or another version)";
    case got::frame: break;
    }
    return {};
}

} // namespace

admin_answer ask_remote(const std::string& address, const std::string& secret, const std::string& request, int timeout_ms) {
    const auto until = clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string why;
    aether::unique_fd s = dial(address, until, why);
    if (s.get() < 0) return failed(why);

    const wire::cluster_key key = wire::cluster_key::from_secret(secret);
    wire::client_handshake hs(key, wire::admin_client, 0, aether::no_node);
    if (!send_frame(s.get(), hs.hello(), 0)) return failed("cannot send to " + address + ": " + std::strerror(errno));
    wire::frame_reader in;
    wire::frame_view f;
    if (got g = read_frame(s.get(), in, f, until); g != got::frame) return failed(said(g, address, timeout_ms, "its challenge"));
    switch (hs.on_challenge(f.header, f.payload)) {
    case wire::handshake_verdict::ok: break;
    case wire::handshake_verdict::unexpected:
        return failed("the node at " + address + " answered with something that is not a challenge (another version?)");
    case wire::handshake_verdict::not_proven:
        return failed("the node at " + address +
                      " does not prove this cluster secret: the key is wrong (AETHER_SECRET, or "
                      "the cluster file's secret), or it belongs to another cluster");
    }
    if (!send_frame(s.get(), hs.auth(), 0)) return failed("cannot send to " + address + ": " + std::strerror(errno));
    const got welcome = read_frame(s.get(), in, f, until);
    if (welcome == got::closed)
        return failed("node " + std::to_string(hs.server()) + " at " + address +
                      " took the key but does not serve admin requests (its admin socket is off)");
    if (welcome != got::frame || !hs.on_welcome(f.header)) return failed(said(welcome, address, timeout_ms, "its welcome"));

    wire::message ask{.type = wire::msg::admin};
    ask.payload = std::as_bytes(std::span(request.data(), request.size()));
    if (!send_frame(s.get(), ask, 1)) return failed("cannot send to " + address + ": " + std::strerror(errno));
    std::string text;
    for (;;) {
        if (got g = read_frame(s.get(), in, f, until); g != got::frame) return failed(said(g, address, timeout_ms, "the answer"));
        if (wire::type_of(f.header) != wire::msg::admin || !wire::is_reply(f.header) || f.header.request_id != 1)
            return failed("the node at " + address + " sent a frame that is not the answer");
        text.append(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
        if (f.header.arg0 == 0) break;
    }
    return parse_answer(text, address);
}

} // namespace aetherctl
