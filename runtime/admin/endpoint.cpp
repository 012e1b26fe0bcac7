#include "runtime/admin/endpoint.hpp"

#include "transport/handshake.hpp"
#include "transport/wire.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aether::admin {

namespace {

setup_result<sockaddr_un> address_of(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path)
        return setup_error{"the admin socket path " + path + " is longer than a Unix socket allows (" +
                               std::to_string(sizeof a.sun_path - 1) + " bytes)",
                           ENAMETOOLONG};
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

// Whether a process answers at `path`: a socket file whose process died refuses connections.
bool someone_listens(const sockaddr_un& a) {
    unique_fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return probe.get() >= 0 && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

setup_result<unique_fd> listen_at(const std::string& path) {
    auto address = address_of(path);
    if (!address) return address.error();
    const sockaddr_un& a = *address;
    unique_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (s.get() < 0) return setup_error::from_errno(errno, {"cannot make the admin socket"});
    // Owner-only from the start: the socket file is made with this mask (the directory is 0700 too).
    const mode_t old_mask = ::umask(077);
    int rc = ::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno == EADDRINUSE && !someone_listens(a)) {
        ::unlink(path.c_str()); // left by a node that is gone
        rc = ::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
    }
    const int bind_errno = errno;
    ::umask(old_mask);
    if (rc != 0 && bind_errno == EADDRINUSE)
        return setup_error{"cannot listen at " + path + ": a running node answers there", EADDRINUSE};
    if (rc != 0) return setup_error::from_errno(bind_errno, {"cannot listen at ", path});
    if (::listen(s.get(), 16) != 0) {
        auto error = setup_error::from_errno(errno, {"cannot listen at ", path});
        ::unlink(path.c_str());
        return error;
    }
    return s;
}

} // namespace

setup_result<std::unique_ptr<endpoint>> endpoint::start(const std::string& path, answer_fn answer) {
    auto listener = listen_at(path);
    if (!listener) return listener.error();
    std::unique_ptr<endpoint> e(new endpoint(path, std::move(answer)));
    auto serving = socket_server::start(
        std::move(listener).value(),
        [self = e.get()](int client, const socket_server& server) { self->serve_client(client, server); }, "aether-admin");
    if (!serving) {
        ::unlink(path.c_str());
        return serving.error();
    }
    e->server_ = std::move(serving).value();
    return e;
}

endpoint::~endpoint() {
    server_.reset(); // no client is being served from here on
    ::unlink(path_.c_str());
}

namespace {

std::string_view first_line(std::string_view bytes) {
    std::string_view line = bytes.substr(0, bytes.find('\n'));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

void send_frame(int client, const wire::message& m, node_id self, std::uint64_t request_id) {
    const std::vector<std::byte> bytes = wire::frame_bytes(m, self, request_id);
    socket_server::write_all(client, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

} // namespace

void endpoint::serve_client(int client, const socket_server& server) const {
    auto r = server.read_until(client, "\n", max_request, client_timeout_ms);
    if (!r.ok) {
        if (!r.error.empty()) socket_server::write_all(client, "error " + r.error + "\n");
        return;
    }
    socket_server::write_all(client, answer_(first_line(r.bytes)));
}

void endpoint::adopt(unique_fd stream, node_id self) {
    server_->adopt(std::move(stream),
                   [this, self](int client, const socket_server& server) { serve_framed(client, self, server); });
}

// Anything but one well-formed admin request from the tool closes the stream unanswered: the
// client proved the secret, so a malformed frame is a bug or damage, not a question.
void endpoint::serve_framed(int client, node_id self, const socket_server& server) const {
    send_frame(client, wire::message{.type = wire::msg::welcome}, self, 0);
    const auto head = server.read_exactly(client, wire::header_size, client_timeout_ms);
    if (!head.ok) return;
    wire::frame_header h;
    std::memcpy(&h, head.bytes.data(), sizeof h);
    if (wire::check_header(h) != wire::header_check::ok || wire::type_of(h) != wire::msg::admin || wire::is_reply(h) ||
        h.source != wire::admin_client || h.payload_length > max_request)
        return;
    const auto body = server.read_exactly(client, h.payload_length, client_timeout_ms);
    if (!body.ok || !wire::payload_ok(h, std::as_bytes(std::span(body.bytes.data(), body.bytes.size())))) return;
    const std::string text = answer_(first_line(body.bytes));
    std::string_view rest(text);
    do {
        const std::string_view piece = rest.substr(0, wire::max_payload);
        rest.remove_prefix(piece.size());
        wire::message m{.type = wire::msg::admin, .flags = wire::flag::reply, .arg0 = rest.empty() ? 0U : 1U};
        m.payload = std::as_bytes(std::span(piece.data(), piece.size()));
        send_frame(client, m, self, h.request_id);
    } while (!rest.empty());
}

} // namespace aether::admin
