// endpoint: a node's admin socket (docs/admin.md). A Unix stream socket, owner-only, served by a
// socket_server (a thread of its own): inspection never runs on the fault path or the service
// thread, and a slow or hostile client holds up nobody but other admin clients.
//
// One request per connection: a line of at most max_request bytes ("stats\n"), answered by what
// `answer` returns, then the connection is closed. A client that sends nothing, or too much, within
// client_timeout_ms is answered with an error and dropped.
//
// The same requests come framed over the cluster port from operators on other machines
// (aetherctl --peer): the service thread authenticates them like a peer (transport/handshake.hpp)
// and hands the stream over (adopt); this thread sends the welcome, reads one msg::admin frame and
// answers it in frames of at most wire::max_payload bytes, arg0 = 1 on all but the last.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/fd.hpp"
#include "runtime/admin/socket_server.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace aether::admin {

class endpoint {
public:
    static constexpr std::size_t max_request = 256;
    static constexpr int client_timeout_ms = 1000;

    using answer_fn = std::function<std::string(std::string_view request)>;

    // Listens at `path` (a socket file left there by a process that is gone is replaced; one that
    // still answers is not). An error if it cannot.
    static setup_result<std::unique_ptr<endpoint>> start(const std::string& path, answer_fn answer);
    ~endpoint(); // stops serving, removes the socket file

    endpoint(const endpoint&) = delete;
    endpoint& operator=(const endpoint&) = delete;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    // Any thread: serves an operator's stream from the cluster port, as node `self`.
    void adopt(unique_fd stream, node_id self);

private:
    endpoint(std::string path, answer_fn answer)
        : path_(std::move(path)),
          answer_(std::move(answer)) {}
    void serve_client(int client, const socket_server& server) const;
    void serve_framed(int client, node_id self, const socket_server& server) const;

    std::string path_;
    answer_fn answer_;
    std::unique_ptr<socket_server> server_;
};

} // namespace aether::admin
