#include "admin_client.hpp"

#include "aether/internal/fd.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace aetherctl {

admin_answer failed(std::string why) {
    admin_answer a;
    a.error = std::move(why);
    return a;
}

const std::string* find(const record& r, const std::string& key) {
    for (const auto& [k, v] : r)
        if (k == key) return &v;
    return nullptr;
}

namespace {

record parse_record(const std::string& line) {
    record r;
    std::size_t start = 0;
    while (start <= line.size()) {
        std::size_t tab = line.find('\t', start);
        const std::string field = line.substr(start, tab == std::string::npos ? std::string::npos : tab - start);
        const std::size_t eq = field.find('=');
        if (eq != std::string::npos) r.emplace_back(field.substr(0, eq), field.substr(eq + 1));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    return r;
}

} // namespace

admin_answer ask(const std::string& socket_path, const std::string& request, int timeout_ms) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof a.sun_path) return failed(socket_path + ": path too long for a Unix socket");
    std::memcpy(a.sun_path, socket_path.c_str(), socket_path.size() + 1);
    aether::unique_fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) return failed(std::string("cannot make a socket: ") + std::strerror(errno));
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        const int e = errno;
        if (e == ENOENT)
            return failed("no node listens at " + socket_path + " (no such socket: not started, or another cluster)");
        if (e == ECONNREFUSED) return failed("the node at " + socket_path + " does not answer (connection refused: it is gone)");
        if (e == EACCES) return failed("not allowed to reach " + socket_path + " (it belongs to another user)");
        return failed("cannot reach the node at " + socket_path + ": " + std::strerror(e));
    }
    const std::string line = request + "\n";
    if (::send(s.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        return failed("cannot send to " + socket_path + ": " + std::strerror(errno));
    std::string text;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[65536];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
        if (left <= 0)
            return failed("the node at " + socket_path + " did not answer within " + std::to_string(timeout_ms) + " ms");
        pollfd p{s.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        const ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return failed("cannot read from " + socket_path + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    return parse_answer(text, socket_path);
}

admin_answer parse_answer(const std::string& text, const std::string& where) {
    const std::size_t first_end = text.find('\n');
    const std::string first = text.substr(0, first_end);
    if (first.rfind("error ", 0) == 0) return failed(first.substr(6));
    if (first != "ok") return failed("the node at " + where + " sent something that is not an answer");
    admin_answer out;
    out.ok = true;
    std::size_t start = first_end == std::string::npos ? text.size() : first_end + 1;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.records.push_back(parse_record(text.substr(start, end - start)));
        start = end + 1;
    }
    return out;
}

} // namespace aetherctl
