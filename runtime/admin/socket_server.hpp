// socket_server: a listening socket served by a thread of its own, one client at a time, off the
// data path. The admin socket (endpoint.hpp) and the metrics endpoint (metrics_endpoint.hpp) are
// its two uses: they differ in the socket they listen on and in what a client says.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/fd.hpp"
#include "aether/internal/result.hpp"

#include <atomic>
#include <deque>
#include <mutex>
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

    // Serves `listener` (bound and listening) on a thread named `name`, or says why it
    // cannot.
    static setup_result<std::unique_ptr<socket_server>> start(unique_fd listener, serve_fn serve, const char* name);
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
    // Exactly `bytes` bytes, within timeout_ms.
    request read_exactly(int client, std::size_t bytes, int timeout_ms) const;

    // Any thread: serves `client`, a stream accepted elsewhere (an operator's connection on the
    // cluster port), on this server's thread with `serve`, after those before it. At most
    // max_adopted wait; more are closed at once.
    void adopt(unique_fd client, serve_fn serve);
    static constexpr std::size_t max_adopted = 16;
    // Sends all of `text`, giving up when the client stops reading for send_timeout_ms.
    static void write_all(int client, std::string_view text);
    static constexpr int send_timeout_ms = 1000;

private:
    socket_server(unique_fd listener, unique_fd wake, unique_fd adopted_event, serve_fn serve, const char* name);
    void run();
    void serve_one(int client, const serve_fn& serve);
    void serve_adopted();
    // Reads into r.bytes until `done` says so, at most max_bytes, within timeout_ms.
    template <class Done>
    request read_while(int client, Done done, std::size_t max_bytes, int timeout_ms) const;

    unique_fd listener_;
    unique_fd wake_;          // an eventfd: the destructor's stop signal
    unique_fd adopted_event_; // an eventfd: a stream was adopted
    serve_fn serve_;
    std::mutex adopted_lock_;
    std::deque<std::pair<unique_fd, serve_fn>> adopted_;
    const char* name_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

} // namespace aether::admin
