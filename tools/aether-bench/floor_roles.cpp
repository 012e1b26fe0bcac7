// What this machine's loopback TCP does with no DSM protocol at all, the floors the Aether figures
// are compared with: a blocking ping-pong (tcp_floor_*), a stream (tcp_stream_GBps), a stream
// received into userfaultfd pages and summed (scan_floor_*), and the message pattern of an
// invalidation among six processes (tcp_fanout_4_64B). See docs/bench-method-notes.md.
#include "tools/aether-bench/floor_roles.hpp"

#include "tools/common/cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>

namespace aether::bench {

namespace {

bool send_full(int fd, const void* data, std::size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

bool recv_full(int fd, void* data, std::size_t n) {
    auto* p = static_cast<char*>(data);
    while (n > 0) {
        ssize_t k = ::recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

void no_delay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die(std::string("TCP_NODELAY: ") + std::strerror(errno));
}

int listen_loopback(int& port) {
    auto fd = tools::loopback_listener(port);
    if (!fd) die(fd.error().message);
    return *fd;
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die(std::string("connect: ") + std::strerror(errno));
    no_delay(fd);
    return fd;
}

// The floor of a remote scan with no protocol at all: what this machine does when the bytes of a
// stream are received, placed into fresh pages of a userfaultfd-registered mapping (UFFDIO_COPY,
// read-only, in 256 KiB batches, as readahead does) and summed, with nothing else: no requests,
// no directory, no checksums. `threads`: 1 does all three on one thread (as Aether's handler
// thread receives and installs while the scanning thread waits); 3 runs receiving, installing
// and scanning on threads of their own, handing batches on through atomics (up to 4 received
// batches in flight), the most overlap two CPUs allow. Returns the process's CPU time.
std::uint64_t receive_install_scan(int fd, std::size_t total, std::size_t threads) {
    constexpr std::size_t batch = 64 * page_bytes;
    constexpr std::size_t slots = 4;
    const std::size_t batches = total / batch;
    uffd_region region(0, batches * batch, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP);
    std::vector<std::byte> staging(slots * batch);
    std::uint64_t sum = 0, cpu0 = 0;
    auto receive = [&](std::size_t i) {
        if (!recv_full(fd, staging.data() + (i % slots) * batch, batch)) die("stream ended early");
        if (i == 0) cpu0 = process_cpu_ns(); // from the first bytes: not the wait for them
    };
    auto install = [&](std::size_t i) { region.copy_read_only(i * batch, staging.data() + (i % slots) * batch, batch); };
    auto scan = [&](std::size_t i) {
        sum += sum_words(reinterpret_cast<const std::uint64_t*>(region.base + i * batch), batch / sizeof(std::uint64_t));
    };
    if (threads <= 1) {
        for (std::size_t i = 0; i < batches; ++i) {
            receive(i);
            install(i);
            scan(i);
        }
    } else {
        // Batches received and installed so far: each stage waits on the one before it (and the
        // receiver on the installer, for a free staging slot).
        std::atomic<std::uint64_t> received{0}, installed{0};
        auto wait_until_above = [](std::atomic<std::uint64_t>& done, std::uint64_t i) {
            for (std::uint64_t v = done.load(std::memory_order_acquire); v <= i; v = done.load(std::memory_order_acquire))
                done.wait(v, std::memory_order_acquire);
        };
        auto advance = [](std::atomic<std::uint64_t>& done) {
            done.fetch_add(1, std::memory_order_release);
            done.notify_all();
        };
        std::thread installer([&] {
            for (std::size_t i = 0; i < batches; ++i) {
                wait_until_above(received, i);
                install(i);
                advance(installed);
            }
        });
        std::thread scanner([&] {
            for (std::size_t i = 0; i < batches; ++i) {
                wait_until_above(installed, i);
                scan(i);
            }
        });
        for (std::size_t i = 0; i < batches; ++i) {
            if (i >= slots) wait_until_above(installed, i - slots); // its staging slot is free again
            receive(i);
            advance(received);
        }
        installer.join();
        scanner.join();
    }
    // The client sends 'x' bytes: every word of the scan is 0x7878787878787878.
    if (sum != batches * (batch / sizeof(std::uint64_t)) * 0x7878787878787878ULL) die("the scanned bytes are not what was sent");
    return process_cpu_ns() - cpu0;
}

} // namespace

int tcp_server(const params& p) {
    node_label = "tcp-server";
    const char* v = std::getenv(tools::listen_fd_env);
    if (v == nullptr) die("no listening socket");
    int lfd = std::atoi(v);
    pollfd pfd{lfd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(setup_wait_ms)) != 1) die("no client connected");
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) die(std::string("accept: ") + std::strerror(errno));
    close(lfd);
    no_delay(fd);
    const std::string mode = str(p, "mode", "pingpong");
    if (mode == "stream" && str(p, "sink", "") == "scan") {
        const std::size_t total = u64(p, "bytes", std::size_t{256} << 20);
        const std::size_t reps = u64(p, "reps", 1);
        const std::size_t threads = u64(p, "threads", 1);
        for (std::size_t r = 0; r < reps; ++r) {
            const std::uint64_t cpu = receive_install_scan(fd, total, threads);
            if (!send_full(fd, &cpu, sizeof cpu)) die("cannot acknowledge the stream");
        }
    } else if (mode == "stream") {
        const std::size_t total = u64(p, "bytes", std::size_t{1} << 30);
        const std::size_t reps = u64(p, "reps", 1);
        std::vector<char> buf(std::size_t{1} << 20);
        for (std::size_t r = 0; r < reps; ++r) {
            std::size_t got = 0;
            std::uint64_t cpu0 = 0;
            while (got < total) {
                ssize_t k = ::recv(fd, buf.data(), std::min(buf.size(), total - got), 0);
                if (k < 0 && errno == EINTR) continue;
                if (k <= 0) die("stream ended early");
                if (got == 0) cpu0 = process_cpu_ns(); // from the first bytes: not the wait for them
                got += static_cast<std::size_t>(k);
            }
            // The acknowledgement carries the CPU time receiving took.
            const std::uint64_t cpu = process_cpu_ns() - cpu0;
            if (!send_full(fd, &cpu, sizeof cpu)) die("cannot acknowledge the stream");
        }
    } else {
        std::vector<char> buf(std::max<std::size_t>(u64(p, "size", 64), sizeof(int)));
        // Echo until the client closes. The reply carries the CPU the server ran on, so that the
        // client can tell how often the two ends were on different CPUs (free placement).
        while (recv_full(fd, buf.data(), buf.size())) {
            int cpu = sched_getcpu();
            std::memcpy(buf.data(), &cpu, sizeof cpu);
            if (!send_full(fd, buf.data(), buf.size())) break;
        }
    }
    close(fd);
    return 0;
}

int tcp_client(const params& p, const tick_clock& clk) {
    node_label = "tcp-client";
    const common c = common_of(p);
    int fd = connect_loopback(static_cast<int>(u64(p, "port", 0)));
    const std::string mode = str(p, "mode", "pingpong");
    if (mode == "stream") {
        const std::size_t total = u64(p, "bytes", std::size_t{1} << 30);
        const std::size_t reps = u64(p, "reps", 1);
        std::vector<char> buf(std::size_t{1} << 20, 'x');
        std::vector<double> gbps;
        std::uint64_t sender_cpu = 0, receiver_cpu = 0;
        for (std::size_t r = 0; r < reps; ++r) {
            std::uint64_t t0 = now_ns();
            const std::uint64_t cpu0 = process_cpu_ns();
            for (std::size_t sent = 0; sent < total;) {
                std::size_t len = std::min(buf.size(), total - sent);
                if (!send_full(fd, buf.data(), len)) die("stream send failed");
                sent += len;
            }
            sender_cpu += process_cpu_ns() - cpu0;
            std::uint64_t receiver = 0;
            if (!recv_full(fd, &receiver, sizeof receiver)) die("no acknowledgement of the stream");
            receiver_cpu += receiver;
            gbps.push_back(static_cast<double>(total) / static_cast<double>(now_ns() - t0));
        }
        std::sort(gbps.begin(), gbps.end());
        record r;
        r.kind = "row";
        r.set("name", c.name).set("unit", "GB/s").set("value", gbps[gbps.size() / 2]).set("gbps", gbps[gbps.size() / 2]);
        r.set("gbps_min", gbps.front()).set("gbps_max", gbps.back());
        r.set("bytes", static_cast<std::uint64_t>(total)).set("reps", static_cast<std::uint64_t>(reps));
        // CPU per 256 KiB (a readahead batch's payload) on each side: what moving the bytes costs
        // the machine, against which seq_scan_remote_GBps's CPU per batch compares.
        const double batches = static_cast<double>(total) * static_cast<double>(reps) / (256.0 * 1024.0);
        r.set("sender_cpu_us_per_256KiB", static_cast<double>(sender_cpu) / batches / 1e3);
        r.set("receiver_cpu_us_per_256KiB", static_cast<double>(receiver_cpu) / batches / 1e3);
        r.set("median_ns", 0.0).set("p99_ns", 0.0).set("ops", static_cast<std::uint64_t>(reps)).set("ops_per_s", 0.0);
        send(r);
    } else {
        const std::size_t size = std::max<std::size_t>(u64(p, "size", 64), sizeof(int));
        std::vector<char> out(size, 'q'), in(size);
        auto round_trip = [&](std::size_t) {
            if (!send_full(fd, out.data(), size) || !recv_full(fd, in.data(), size)) die("ping-pong failed");
        };
        for (std::size_t i = 0; i < c.warmup; ++i) round_trip(i);
        std::vector<std::uint64_t> ticks;
        ticks.reserve(c.ops);
        std::uint64_t cross_cpu = 0;
        for (std::size_t i = 0; i < c.ops; ++i) {
            std::uint64_t t0 = clk.now();
            round_trip(i);
            ticks.push_back(clk.now() - t0);
            int server_cpu = 0;
            std::memcpy(&server_cpu, in.data(), sizeof server_cpu);
            if (server_cpu != sched_getcpu()) ++cross_cpu;
        }
        record r = latency_row(c.name, ticks, clk);
        r.set("size", static_cast<std::uint64_t>(size));
        r.set("cross_cpu_fraction", static_cast<double>(cross_cpu) / static_cast<double>(c.ops));
        send(r);
    }
    close(fd);
    return 0;
}

// What invalidating 4 sharers costs at the least, whatever the protocol: node 0 sends 64 bytes to
// node 1, which sends 64 bytes to each of nodes 2..5 at once, waits for their 64-byte answers, and
// answers node 0. Plain blocking sockets between the same processes as invalidate_4_sharers (the
// Aether runtime only introduces them to each other), so the two compare like for like.
void tcp_fanout(member& m, const params& p, const tick_clock& clk) {
    const common c = common_of(p);
    const std::uint16_t me = m.id();
    const std::uint16_t sharers = static_cast<std::uint16_t>(m.count() - 2);
    int listener = -1;
    if (me >= 1) {
        int port = 0;
        listener = listen_loopback(port);
        m.publish("fan_port_" + std::to_string(me), static_cast<std::uint64_t>(port));
    }
    std::vector<int> down; // node 1: its connections to the sharers
    int up = -1;           // node 0: to node 1; the others: from node 1 (or node 0)
    if (me == 0) up = connect_loopback(static_cast<int>(m.lookup("fan_port_1")));
    if (me == 1)
        for (std::uint16_t s = 2; s < m.count(); ++s)
            down.push_back(connect_loopback(static_cast<int>(m.lookup("fan_port_" + std::to_string(s)))));
    if (me >= 1) {
        up = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (up < 0) die(std::string("accept: ") + std::strerror(errno));
        no_delay(up);
        ::close(listener);
    }
    m.barrier(setup_wait_ms, "setup");
    char msg[64] = {};
    if (me == 1) {
        while (recv_full(up, msg, sizeof msg)) {
            for (int fd : down)
                if (!send_full(fd, msg, sizeof msg)) die("fan-out send failed");
            for (int fd : down)
                if (!recv_full(fd, msg, sizeof msg)) die("fan-out answer missing");
            if (!send_full(up, msg, sizeof msg)) break;
        }
        for (int fd : down) ::close(fd); // ends the sharers' loops
    } else if (me >= 2) {
        while (recv_full(up, msg, sizeof msg))
            if (!send_full(up, msg, sizeof msg)) break;
    } else {
        auto round_trip = [&](std::size_t) {
            if (!send_full(up, msg, sizeof msg) || !recv_full(up, msg, sizeof msg)) die("fan-out round failed");
        };
        for (std::size_t i = 0; i < c.warmup; ++i) round_trip(i);
        std::vector<std::uint64_t> ticks;
        ticks.reserve(c.ops);
        for (std::size_t i = 0; i < c.ops; ++i) {
            std::uint64_t t0 = clk.now();
            round_trip(i);
            ticks.push_back(clk.now() - t0);
        }
        record r = latency_row(c.name, ticks, clk);
        r.set("sharers", static_cast<std::uint64_t>(sharers));
        send(r);
    }
    ::close(up);
    m.barrier(setup_wait_ms, "done");
}

} // namespace aether::bench
