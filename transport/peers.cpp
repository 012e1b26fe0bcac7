// Peer addresses and liveness knowledge.
#include "transport/peers.hpp"

#include "aether/internal/blocking.hpp"
#include "aether/internal/log.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aether {

std::optional<peer_address> peer_address::parse(const std::string& host_port, port_zero zero) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= host_port.size()) return std::nullopt;
    std::string host = host_port.substr(0, colon);
    std::string port = host_port.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    for (char c : port)
        if (c < '0' || c > '9') return std::nullopt;
    long p = std::strtol(port.c_str(), nullptr, 10);
    if ((p == 0 && zero == port_zero::refused) || p < 0 || p > 65535) return std::nullopt;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return std::nullopt;
    peer_address a;
    std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
    a.length = static_cast<socklen_t>(res->ai_addrlen);
    a.text = host_port;
    freeaddrinfo(res);
    return a;
}

peer_address peer_address::loopback(std::uint16_t port) {
    peer_address a;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.length = sizeof(sockaddr_in);
    a.text = "127.0.0.1:" + std::to_string(port);
    return a;
}

namespace {

std::uint16_t port_of(const sockaddr_storage& ss) noexcept {
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

} // namespace

std::uint16_t peer_address::port() const noexcept { return port_of(storage); }

void peer_address::set_port(std::uint16_t port) noexcept {
    if (storage.ss_family == AF_INET6)
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    else
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
}

setup_result<std::uint16_t> check_inherited_listener(int fd, const peer_address& expected) {
    auto unusable = [&](int err) { return setup_error::from_errno(err, {"is not a TCP socket listening on ", expected.text}); };
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0) return unusable(errno);
    if (value != expected.storage.ss_family) return unusable(EINVAL);
    len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM) return unusable(EINVAL);
    len = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value == 0) return unusable(EINVAL);
    sockaddr_storage bound{};
    len = sizeof bound;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return unusable(errno);
    const std::uint16_t wanted = expected.port();
    if (wanted != 0 && port_of(bound) != wanted) return unusable(EADDRNOTAVAIL);
    return port_of(bound);
}

peer_table::peer_table(node_id node_count)
    : count_(node_count),
      entries_(new entry[node_count]) {}

peer_table::~peer_table() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    lookup_asked_.notify_all();
    lookup_done_.notify_all();
    // A lookup in progress ends first: as long as the resolver's timeouts (resolv.conf), at worst.
    if (resolver_.joinable()) resolver_.join();
}

void peer_table::set_address(node_id n, peer_address a) {
    if (n >= count_) return;
    std::lock_guard lock(mu_);
    entries_[n].addr = std::move(a);
    entries_[n].name.clear();
}

bool peer_table::set_name(node_id n, const std::string& host_port) {
    if (n >= count_) return false;
    auto a = peer_address::parse(host_port);
    std::lock_guard lock(mu_);
    entry& e = entries_[n];
    if (a) {
        e.addr = std::move(*a);
        e.name.clear();
        return true;
    }
    e.addr.reset();
    e.name = host_port;
    e.failed_at_ns = now_ns();
    // Started here, on the thread that configures the table (init), so that no fault path ever has
    // to start a thread. It waits for work until the table goes.
    if (!resolver_.joinable()) resolver_ = std::thread([this] { run_resolver(); });
    log::transport().warn("the address of node {} (\"{}\") does not resolve (yet): the node is UNREACHABLE until it does, "
                          "and its name is looked up again when it is needed",
                          n, host_port);
    return false;
}

std::optional<peer_address> peer_table::address(node_id n) const {
    if (n >= count_) return std::nullopt;
    std::lock_guard lock(mu_);
    return entries_[n].addr;
}

bool peer_table::configured(node_id n) const {
    if (n >= count_) return false;
    std::lock_guard lock(mu_);
    return entries_[n].addr.has_value() || !entries_[n].name.empty();
}

std::uint64_t peer_table::ask_lookup(entry& e, std::uint64_t now) {
    if (e.lookups_asked > e.lookups_done) return e.lookups_asked; // one is under way: its answer will do
    if (e.failed_at_ns != 0 && now - e.failed_at_ns < retry_lookup_ns) return 0;
    ++e.lookups_asked;
    lookup_asked_.notify_one();
    return e.lookups_asked;
}

std::optional<peer_address> peer_table::resolve(node_id n, deadline dl) {
    if (n >= count_) return std::nullopt;
    std::unique_lock lock(mu_);
    entry& e = entries_[n];
    if (e.addr || e.name.empty()) return e.addr;
    const std::uint64_t ticket = ask_lookup(e, now_ns());
    if (ticket == 0) return std::nullopt; // failed a moment ago: still UNREACHABLE
    lock.unlock();
    about_to_block(); // a lookup may wait for a DNS server
    lock.lock();
    // In slices: a deadline may be never(), too far off for a wait_for.
    while (!stopping_ && e.lookups_done < ticket && !dl.expired())
        lookup_done_.wait_for(lock, nanoseconds(std::min<std::uint64_t>(dl.remaining_ns(), 1'000'000'000)));
    return e.addr;
}

void peer_table::resolve_soon(node_id n) {
    if (n >= count_) return;
    std::lock_guard lock(mu_);
    entry& e = entries_[n];
    if (!e.addr && !e.name.empty()) (void)ask_lookup(e, now_ns());
}

void peer_table::run_resolver() {
    pthread_setname_np(pthread_self(), "aether-resolve");
    std::unique_lock lock(mu_);
    while (!stopping_) {
        node_id next = count_;
        for (node_id n = 0; n < count_ && next == count_; ++n)
            if (entries_[n].lookups_asked > entries_[n].lookups_done) next = n;
        if (next == count_) {
            lookup_asked_.wait(lock);
            continue;
        }
        entry& e = entries_[next];
        const std::uint64_t answering = e.lookups_asked;
        const std::string name = e.name;
        lock.unlock(); // address() and the other nodes' lookups go on meanwhile
        auto a = peer_address::parse(name);
        lock.lock();
        if (a && e.name == name) {
            e.addr = std::move(*a);
            e.name.clear();
            e.failed_at_ns = 0;
            log::transport().info("the address of node {} (\"{}\") resolves now", next, name);
        } else if (!a) {
            e.failed_at_ns = now_ns();
        }
        e.lookups_done = answering;
        lookup_done_.notify_all();
    }
}

std::uint64_t peer_table::mark_alive(node_id n, std::uint64_t incarnation) noexcept {
    if (n >= count_) return 0;
    entry& e = entries_[n];
    e.ever_alive.store(true, std::memory_order_relaxed);
    e.down.store(false, std::memory_order_release);
    const std::uint64_t before = e.incarnation.exchange(incarnation, std::memory_order_acq_rel);
    if (before != 0 && before != incarnation) {
        e.restarted.store(true, std::memory_order_release);
        restarts_.fetch_add(1, std::memory_order_acq_rel);
    }
    return before;
}

bool peer_table::mark_down(node_id n) noexcept {
    if (n >= count_) return false;
    return !entries_[n].down.exchange(true, std::memory_order_acq_rel);
}

bool peer_table::is_down(node_id n) const noexcept { return n < count_ && entries_[n].down.load(std::memory_order_acquire); }

void peer_table::suspect(node_id n) noexcept {
    if (n >= count_ || entries_[n].suspected.exchange(true, std::memory_order_acq_rel)) return;
    suspects_.fetch_add(1, std::memory_order_acq_rel);
}

void peer_table::heard_from(node_id n, std::uint64_t now_ns) noexcept {
    if (n >= count_) return;
    // Only forward: answers are recorded by several threads, each with its own reading of the clock.
    std::atomic<std::uint64_t>& last = entries_[n].last_heard_ns;
    std::uint64_t seen = last.load(std::memory_order_relaxed);
    while (seen < now_ns && !last.compare_exchange_weak(seen, now_ns, std::memory_order_relaxed)) {}
}

std::uint64_t peer_table::last_heard_ns(node_id n) const noexcept {
    return n < count_ ? entries_[n].last_heard_ns.load(std::memory_order_relaxed) : 0;
}

bool peer_table::mark_silent(node_id n) noexcept {
    return n < count_ && !entries_[n].silent.exchange(true, std::memory_order_acq_rel);
}

bool peer_table::clear_silent(node_id n) noexcept {
    return n < count_ && entries_[n].silent.exchange(false, std::memory_order_acq_rel);
}

bool peer_table::is_silent(node_id n) const noexcept { return n < count_ && entries_[n].silent.load(std::memory_order_acquire); }

void peer_table::mark_known(node_id n) noexcept {
    if (n < count_) entries_[n].ever_alive.store(true, std::memory_order_relaxed);
}

bool peer_table::ever_alive(node_id n) const noexcept {
    return n < count_ && entries_[n].ever_alive.load(std::memory_order_relaxed);
}

std::uint64_t peer_table::incarnation(node_id n) const noexcept {
    return n < count_ ? entries_[n].incarnation.load(std::memory_order_acquire) : 0;
}

} // namespace aether
