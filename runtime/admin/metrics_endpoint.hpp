// metrics_endpoint: the node's Prometheus metrics over HTTP (AETHER_METRICS=host:port; docs/admin.md),
// served by a socket_server (a thread of its own, off the data path). GET /metrics answers
// prometheus_text; anything else 404 (or 400 for what is not an HTTP request). A request's head
// is read with limits on size (8 KiB) and time (1 s), and the connection closed after the answer.
#pragma once
#include "aether/internal/guard.hpp"

#include "runtime/admin/socket_server.hpp"

#include <functional>
#include <memory>
#include <string>

namespace aether::admin {

class metrics_endpoint {
public:
    static constexpr std::size_t max_head = 8192;
    static constexpr int client_timeout_ms = 1000;

    using render_fn = std::function<std::string()>;

    // Listens on `host_port` (IPv4 or [IPv6], numeric; port 0: any free port), or says
    // why it cannot.
    static setup_result<std::unique_ptr<metrics_endpoint>> start(const std::string& host_port, render_fn render);

    // Where it listens, "host:port" (the port the kernel chose when asked for 0).
    [[nodiscard]] const std::string& address() const noexcept { return address_; }

private:
    explicit metrics_endpoint(render_fn render)
        : render_(std::move(render)) {}
    void serve_client(int client, const socket_server& server) const;

    render_fn render_;
    std::string address_;
    std::unique_ptr<socket_server> server_;
};

} // namespace aether::admin
