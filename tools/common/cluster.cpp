// Ports, secret, peer list and environment for the nodes of a local cluster.
#include "tools/common/cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

extern char** environ;

namespace aether::tools {

namespace {

// Fills `bytes` from `read_some` (which returns what read() would), retrying on EINTR and short
// reads; false with errno set on failure, errno 0 on an early end of data.
template <typename ReadSome>
bool fill(unsigned char* bytes, std::size_t size, ReadSome read_some) {
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = read_some(bytes + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) {
            errno = 0;
            return false;
        }
        got += static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

setup_result<int> loopback_listener(int& port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return setup_error::from_errno(errno, {"socket"});
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(s, 8) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        auto error = setup_error::from_errno(errno, {"cannot listen on 127.0.0.1"});
        close(s);
        return error;
    }
    port = ntohs(addr.sin_port);
    return s;
}

void loopback_listeners::close_all() noexcept {
    for (int fd : fds) close(fd);
    fds.clear();
    ports.clear();
}

setup_result<loopback_listeners> open_loopback_listeners(int count) {
    loopback_listeners l;
    for (int i = 0; i < count; ++i) {
        int port = 0;
        auto s = loopback_listener(port);
        if (!s) return s.error(); // the ones opened close with `l`
        l.fds.push_back(*s);
        l.ports.push_back(port);
    }
    return l;
}

setup_result<std::string> random_secret() {
    unsigned char bytes[16];
    bool ok = fill(bytes, sizeof bytes, [](unsigned char* p, std::size_t n) { return getrandom(p, n, 0); });
    if (!ok && (errno == ENOSYS || errno == EPERM)) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return setup_error::from_errno(errno, {"cannot get random bytes: getrandom is unavailable and /dev/urandom"});
        ok = fill(bytes, sizeof bytes, [fd](unsigned char* p, std::size_t n) { return read(fd, p, n); });
        int err = errno;
        close(fd);
        errno = err;
    }
    if (!ok && errno != 0) return setup_error::from_errno(errno, {"cannot get 16 random bytes"});
    if (!ok) return setup_error{"cannot get 16 random bytes: end of data", EIO};
    static constexpr char hex[] = "0123456789abcdef";
    std::string s;
    for (unsigned char b : bytes) {
        s += hex[b >> 4];
        s += hex[b & 0xf];
    }
    return s;
}

std::string loopback_peers(const std::vector<int>& ports) {
    std::string peers;
    for (std::size_t i = 0; i < ports.size(); ++i) {
        if (i != 0) peers += ',';
        peers += "127.0.0.1:" + std::to_string(ports[i]);
    }
    return peers;
}

std::vector<std::string> environment_without(const std::vector<std::string>& names) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry(*e);
        std::string_view name = entry.substr(0, entry.find('='));
        if (std::find(names.begin(), names.end(), name) != names.end()) continue;
        env.emplace_back(entry);
    }
    return env;
}

} // namespace aether::tools
