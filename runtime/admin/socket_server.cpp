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

setup_result<std::unique_ptr<socket_server>> socket_server::start(unique_fd listener, serve_fn serve, const char* name) {
    unique_fd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    unique_fd adopted(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake.get() < 0 || adopted.get() < 0) return setup_error::from_errno(errno, {"cannot make an eventfd"});
    return std::unique_ptr<socket_server>(
        new socket_server(std::move(listener), std::move(wake), std::move(adopted), std::move(serve), name));
}

socket_server::socket_server(unique_fd listener, unique_fd wake, unique_fd adopted_event, serve_fn serve, const char* name)
    : listener_(std::move(listener)),
      wake_(std::move(wake)),
      adopted_event_(std::move(adopted_event)),
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
        pollfd fds[3] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {adopted_event_.get(), POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0) return;
        if (fds[2].revents != 0) serve_adopted();
        if (fds[0].revents == 0) continue;
        unique_fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client.get() < 0) continue; // EAGAIN, or a client that left before it was accepted
        serve_one(client.get(), serve_);
    }
}

void socket_server::serve_one(int client, const serve_fn& serve) {
    const timeval limit{send_timeout_ms / 1000, (send_timeout_ms % 1000) * 1000};
    (void)::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    try {
        serve(client, *this);
    } catch (const std::exception& e) {
        write_all(client, std::string("error ") + e.what() + "\n");
    }
}

void socket_server::adopt(unique_fd client, serve_fn serve) {
    {
        std::lock_guard g(adopted_lock_);
        if (adopted_.size() >= max_adopted) return; // closed: more operators at once than anyone needs
        adopted_.emplace_back(std::move(client), std::move(serve));
    }
    const std::uint64_t one = 1;
    (void)!::write(adopted_event_.get(), &one, sizeof one);
}

void socket_server::serve_adopted() {
    std::uint64_t count = 0;
    (void)!::read(adopted_event_.get(), &count, sizeof count);
    for (;;) {
        std::pair<unique_fd, serve_fn> next;
        {
            std::lock_guard g(adopted_lock_);
            if (adopted_.empty()) return;
            next = std::move(adopted_.front());
            adopted_.pop_front();
        }
        if (stopping_.load(std::memory_order_acquire)) return;
        serve_one(next.first.get(), next.second);
    }
}

socket_server::request socket_server::read_until(int client, std::string_view terminator, std::size_t max_bytes,
                                                 int timeout_ms) const {
    return read_while(
        client, [terminator](const std::string& bytes) { return bytes.find(terminator) != std::string::npos; }, max_bytes,
        timeout_ms);
}

socket_server::request socket_server::read_exactly(int client, std::size_t bytes, int timeout_ms) const {
    return read_while(
        client, [bytes](const std::string& got) { return got.size() == bytes; }, bytes, timeout_ms);
}

template <class Done>
socket_server::request socket_server::read_while(int client, Done done, std::size_t max_bytes, int timeout_ms) const {
    request r;
    const std::uint64_t until = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
    char buf[1024];
    for (;;) {
        if (done(r.bytes)) {
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
