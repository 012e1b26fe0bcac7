#include "runtime/admin/metrics_endpoint.hpp"

#include "transport/peers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace aether::admin {

namespace {

std::string http_answer(const char* status, const char* content_type, const std::string& body) {
    return std::string("HTTP/1.0 ") + status + "\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace

setup_result<std::unique_ptr<metrics_endpoint>> metrics_endpoint::start(const std::string& host_port, render_fn render) {
    auto where = peer_address::parse(host_port, peer_address::port_zero::allowed);
    if (!where) return setup_error{"the metrics address \"" + host_port + "\" is not host:port", EINVAL};
    unique_fd s(::socket(where->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const int one = 1;
    if (s.get() < 0 || ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::bind(s.get(), where->sa(), where->length) != 0 || ::listen(s.get(), 16) != 0)
        return setup_error::from_errno(errno, {"cannot serve metrics on ", host_port});
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    std::unique_ptr<metrics_endpoint> m(new metrics_endpoint(std::move(render)));
    const std::string host = host_port.substr(0, host_port.rfind(':'));
    const auto port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    m->address_ = host + ":" + std::to_string(port);
    auto serving = socket_server::start(
        std::move(s), [self = m.get()](int client, const socket_server& server) { self->serve_client(client, server); },
        "aether-metrics");
    if (!serving) return serving.error();
    m->server_ = std::move(serving).value();
    return m;
}

void metrics_endpoint::serve_client(int client, const socket_server& server) const {
    auto r = server.read_until(client, "\r\n\r\n", max_head, client_timeout_ms);
    if (!r.ok) {
        if (!r.error.empty()) socket_server::write_all(client, http_answer("400 Bad Request", "text/plain", r.error + "\n"));
        return;
    }
    const std::string_view line = std::string_view(r.bytes).substr(0, r.bytes.find("\r\n"));
    if (!line.starts_with("GET ") && !line.starts_with("HEAD ")) {
        socket_server::write_all(client, http_answer("405 Method Not Allowed", "text/plain", "GET /metrics\n"));
        return;
    }
    const std::size_t path_at = line.find(' ') + 1;
    const std::string_view path = line.substr(path_at, line.find(' ', path_at) - path_at);
    if (path != "/metrics" && !path.starts_with("/metrics?")) {
        socket_server::write_all(client, http_answer("404 Not Found", "text/plain", "the metrics are at /metrics\n"));
        return;
    }
    socket_server::write_all(client, http_answer("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_()));
}

} // namespace aether::admin
