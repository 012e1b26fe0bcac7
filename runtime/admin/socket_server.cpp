#include "runtime/admin/socket_server.hpp"

#include "aether/internal/clock.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace aether::admin {

std::unique_ptr<socket_server> socket_server::start(unique_fd listener, serve_fn serve, const char* name, std::string& error) {
    unique_fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake.get() < 0) {
        error = std::string("cannot make an eventfd: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<socket_server>(new socket_server(std::move(listener), std::move(wake), std::move(serve), name));
}

socket_server::socket_server(unique_fd listener, unique_fd wake, serve_fn serve, const char* name)
    : listener_(std::move(listener)),
      wake_(std::move(wake)),
      serve_(std::move(serve)),
      name_(name) {
    thread_ = std::thread([this] { run(); });
}

socket_server::~socket_server() {
    stopping_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
}

void socket_server::run() {
    pthread_setname_np(pthread_self(), name_);
    while (!stopping_.load(std::memory_order_acquire)) {
        pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0) return;
        unique_fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client.get() < 0) continue; // EAGAIN, or a client that left before it was accepted
        const timeval limit{send_timeout_ms / 1000, (send_timeout_ms % 1000) * 1000};
        (void)::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        try {
            serve_(client.get(), *this);
        } catch (const std::exception& e) {
            write_all(client.get(), std::string("error ") + e.what() + "\n");
        }
    }
}

socket_server::request socket_server::read_until(int client, std::string_view terminator, std::size_t max_bytes,
                                                 int timeout_ms) const {
    request r;
    const std::uint64_t until = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    char buf[1024];
    for (;;) {
        if (r.bytes.find(terminator) != std::string::npos) {
            r.ok = true;
            return r;
        }
        if (r.bytes.size() >= max_bytes) {
            r.error = "request longer than " + std::to_string(max_bytes) + " bytes";
            return r;
        }
        const std::uint64_t now = now_ns();
        if (now >= until) {
            r.error = "no request within " + std::to_string(timeout_ms) + " ms";
            return r;
        }
        pollfd fds[2] = {{client, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
        const int left_ms = static_cast<int>((until - now + 999'999) / 1'000'000);
        if (::poll(fds, 2, left_ms) < 0 && errno != EINTR) return r;
        if (fds[1].revents != 0) return r; // stopping
        if (fds[0].revents == 0) continue;
        const ssize_t n = ::recv(client, buf, std::min(sizeof buf, max_bytes - r.bytes.size()), MSG_DONTWAIT);
        if (n == 0) return r; // closed before a whole request
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return r;
        }
        r.bytes.append(buf, static_cast<std::size_t>(n));
    }
}

void socket_server::write_all(int client, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::send(client, text.data(), text.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return; // the client went away or stopped reading: its loss
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

} // namespace aether::admin
