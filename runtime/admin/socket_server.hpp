// socket_server: a listening socket served by a thread of its own, one client at a time, off the
// data path. The admin socket (endpoint.hpp) and the metrics endpoint (metrics_endpoint.hpp) are
// its two uses: they differ in the socket they listen on and in what a client says.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/fd.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace aether::admin {

class socket_server {
public:
    // Serves one accepted client (the server closes it afterwards).
    using serve_fn = std::function<void(int client, const socket_server& server)>;

    // Serves `listener` (bound and listening) on a thread named `name`. Null, with `error`, if it
    // cannot.
    static std::unique_ptr<socket_server> start(unique_fd listener, serve_fn serve, const char* name, std::string& error);
    ~socket_server(); // stops the thread: a client being served is dropped

    socket_server(const socket_server&) = delete;
    socket_server& operator=(const socket_server&) = delete;

    // What a client sent up to and including `terminator`, read with a limit on size and time:
    // nothing it sends is kept beyond max_bytes, and a client that sends too little holds the
    // thread at most timeout_ms. `error` says what went wrong (empty if the client just left).
    struct request {
        bool ok = false;
        std::string bytes;
        std::string error;
    };
    request read_until(int client, std::string_view terminator, std::size_t max_bytes, int timeout_ms) const;
    // Sends all of `text`, giving up when the client stops reading for send_timeout_ms.
    static void write_all(int client, std::string_view text);
    static constexpr int send_timeout_ms = 1000;

private:
    socket_server(unique_fd listener, unique_fd wake, serve_fn serve, const char* name);
    void run();

    unique_fd listener_;
    unique_fd wake_; // an eventfd: the destructor's stop signal
    serve_fn serve_;
    const char* name_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace aether::admin
