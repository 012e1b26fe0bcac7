// Synchronous request/response over pooled connections, driven by the calling thread's own ring.
#include "transport/sync_client.hpp"

#include "aether/internal/blocking.hpp"
#include "aether/internal/log.hpp"
#include "transport/io_ring.hpp"
#include "transport/path_error.hpp"
#include "transport/peer_socket.hpp"

#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <thread>

namespace aether {

namespace {

// Connections idle for longer than this are checked for a pending EOF/RST before reuse: the peer
// may have restarted since, and a fresh connection then succeeds where the old one would fail.
constexpr std::uint64_t stale_check_after_ns = 50'000'000;

struct thread_ring {
    io_ring ring;
    int init_rc = 1; // 1: not created yet
    std::uint64_t next_tag = 1;
};
// A plain pointer (no thread-local destructor to register on first touch): the ring is freed by
// a pthread key destructor when the thread ends.
thread_local thread_ring* tl_ring = nullptr;
pthread_key_t g_ring_key;
pthread_once_t g_ring_key_once = PTHREAD_ONCE_INIT;

} // namespace

// A thread's ring is created the first time it needs one, for a connect or a send the socket did
// not take at once (this allocates). Kept out of line so that sanitizer reports can tell this
// one-time step apart.
[[gnu::noinline]] void create_thread_ring() noexcept {
    pthread_once(&g_ring_key_once, [] { pthread_key_create(&g_ring_key, [](void* p) { delete static_cast<thread_ring*>(p); }); });
    auto* r = new (std::nothrow) thread_ring;
    if (r == nullptr) return; // this_thread_ring() reports it: no ring
    r->init_rc = io_ring::create(r->ring, 16);
    pthread_setspecific(g_ring_key, r);
    tl_ring = r;
}

namespace {

io_ring* this_thread_ring() noexcept {
    if (tl_ring == nullptr) create_thread_ring();
    return tl_ring != nullptr && tl_ring->init_rc == 0 ? &tl_ring->ring : nullptr;
}

std::uint64_t new_tag() noexcept { return tl_ring->next_tag++; }

// Moves `iov` past the first `n` bytes: drops the vectors sent whole and trims the first one sent in
// part. Returns the number of vectors left.
int advance_iov(iovec*& iov, int iovcnt, std::size_t n) noexcept {
    while (iovcnt > 0 && n >= iov->iov_len) {
        n -= iov->iov_len;
        ++iov;
        --iovcnt;
    }
    if (iovcnt > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + n;
        iov->iov_len -= n;
    }
    return iovcnt;
}

// Protocol errors are reported with errno values no socket produces here.
constexpr int err_bad_header = -EPROTO;
constexpr int err_too_long = -EMSGSIZE;
constexpr int err_no_ring = -ENOSR; // this thread could not get an io_uring

// Sends all of `iov` through this thread's ring, which carries the deadline.
int send_all(int fd, iovec* iov, int iovcnt, deadline dl) noexcept {
    io_ring* r = this_thread_ring();
    if (r == nullptr) return err_no_ring;
    while (iovcnt > 0) {
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = static_cast<std::size_t>(iovcnt);
        std::uint64_t tag = new_tag();
        io_uring_sqe* s = r->sqe();
        io_uring_prep_sendmsg(s, fd, &mh, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, tag);
        about_to_block(); // the socket is full: the peer is slow to read
        int n = r->wait_for(tag, dl);
        if (n < 0) return n;
        if (n == 0) return -EPIPE;
        iovcnt = advance_iov(iov, iovcnt, static_cast<std::size_t>(n));
    }
    return 0;
}

// Sends `send_iov` with a direct sendmsg (it fits the socket buffer in all but rare cases;
// measured here, that saves about 0.5 us against a send through the ring); a short send is
// finished through the ring, which also carries the deadline.
int send_request(int fd, iovec* send_iov, int send_iovcnt, deadline dl) noexcept {
    ssize_t n = send_nowait(fd, send_iov, send_iovcnt);
    if (n < 0) return static_cast<int>(n);
    send_iovcnt = advance_iov(send_iov, send_iovcnt, static_cast<std::size_t>(n));
    return send_iovcnt > 0 ? send_all(fd, send_iov, send_iovcnt, dl) : 0;
}

// The receive timeout (SO_RCVTIMEO) a connection's socket has now, so that a receive blocking in
// recvmsg ends by the caller's deadline. Each operation has a fresh deadline of about the same
// length, so the option is set about once per connection: only when the one set would overshoot
// the deadline by more than receive_slack_us, or ran out before it.
struct receive_timeout {
    static constexpr std::uint64_t unknown = UINT64_MAX; // set it before relying on it
    std::uint64_t us = 0;                                // 0: none (a receive blocks without limit)
};
constexpr std::uint64_t receive_slack_us = 1000;

// Sets the socket's receive timeout (0: none); false if the socket refused it.
bool set_receive_timeout(int fd, receive_timeout& t, std::uint64_t us) noexcept {
    timeval tv{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        t.us = receive_timeout::unknown;
        return false;
    }
    t.us = us;
    return true;
}

// Makes the socket's receive timeout end a receive by `dl`; false if it cannot be relied on.
bool bound_receive(int fd, receive_timeout& t, deadline dl) noexcept {
    if (dl.ns() == UINT64_MAX) return t.us == 0 || set_receive_timeout(fd, t, 0);
    const std::uint64_t left_us = std::max<std::uint64_t>(dl.remaining_ns() / 1000, 1);
    if (t.us == 0 || t.us == receive_timeout::unknown || t.us > left_us + receive_slack_us)
        return set_receive_timeout(fd, t, left_us);
    return true;
}

// Receives what has arrived into `mh` on the calling thread: first polls with non-blocking receives
// for up to `poll_ns` (each round yields the CPU, so a peer sharing this CPU runs meanwhile), then
// blocks in recvmsg until data, the end of the stream, or the deadline (-ETIME). Waiting in the
// socket itself instead of in io_uring measured about 1 us less per round trip on one CPU: the
// wake-up goes straight to this thread, without a task_work step and a completion to reap.
ssize_t receive_some(int fd, msghdr& mh, deadline dl, std::uint64_t poll_ns, receive_timeout& t) noexcept {
    if (poll_ns > 0) {
        const std::uint64_t until = now_ns() + std::min(poll_ns, dl.remaining_ns());
        do {
            ssize_t n = ::recvmsg(fd, &mh, MSG_DONTWAIT);
            if (n >= 0) return n;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -errno;
            sched_yield();
        } while (now_ns() < until);
    }
    about_to_block(); // the answer is slow to come: this thread now sleeps until it does
    for (;;) {
        if (dl.expired()) return -ETIME;
        int flags = 0;
        if (!bound_receive(fd, t, dl)) {
            // The socket refused the timeout: poll() bounds the wait instead.
            pollfd p{fd, POLLIN, 0};
            const auto ms = static_cast<int>(std::min<std::uint64_t>((dl.remaining_ns() + 999'999) / 1'000'000, INT32_MAX));
            if (::poll(&p, 1, ms) == 0) continue;
            flags = MSG_DONTWAIT;
        }
        ssize_t n = ::recvmsg(fd, &mh, flags);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
        // The timeout ran out: the deadline has passed, or it was set for a shorter one.
        t.us = receive_timeout::unknown;
    }
}

// Receives exactly one frame: header into `h`, payload into `out`.
int receive_reply(int fd, receive_timeout& t, wire::frame_header& h, std::span<std::byte> out, deadline dl,
                  std::size_t& payload_size, std::uint64_t poll_ns) noexcept {
    std::size_t got = 0; // bytes of the frame received so far
    std::size_t want = wire::header_size;
    bool header_checked = false;
    auto* hbytes = reinterpret_cast<std::byte*>(&h);
    for (;;) {
        iovec riov[2];
        int rcnt = 0;
        if (got < wire::header_size) {
            riov[rcnt++] = {hbytes + got, wire::header_size - got};
            if (!out.empty()) riov[rcnt++] = {out.data(), out.size()};
        } else {
            std::size_t pgot = got - wire::header_size;
            riov[rcnt++] = {out.data() + pgot, want - got};
        }
        msghdr rmh{};
        rmh.msg_iov = riov;
        rmh.msg_iovlen = static_cast<std::size_t>(rcnt);
        const ssize_t res = receive_some(fd, rmh, dl, poll_ns, t);
        if (res == 0) return -ECONNRESET; // orderly EOF: the peer closed
        if (res < 0) return static_cast<int>(res);
        got += static_cast<std::size_t>(res);
        if (!header_checked && got >= wire::header_size) {
            header_checked = true;
            if (wire::check_header(h) != wire::header_check::ok) return err_bad_header;
            if (h.payload_length > out.size()) return err_too_long;
            want = wire::header_size + h.payload_length;
        }
        if (header_checked && got > want) return err_bad_header; // bytes beyond the one expected frame
        if (header_checked && got == want) {
            payload_size = h.payload_length;
            return 0;
        }
    }
}

// A request and its reply, for the handshake.
int transact(int fd, receive_timeout& t, iovec* send_iov, int send_iovcnt, wire::frame_header& h, std::span<std::byte> out,
             deadline dl, std::size_t& payload_size) noexcept {
    if (int e = send_request(fd, send_iov, send_iovcnt, dl); e < 0) return e;
    return receive_reply(fd, t, h, out, dl, payload_size, 0);
}

// What a negative result of this file's helpers means: -errno, or one of the err_* values.
failure failure_of_step(int err) noexcept {
    if (err == err_bad_header || err == err_too_long) return failure::path(EPROTO); // not a frame of ours
    if (err == err_no_ring) return failure::path(ENOMEM);
    return failure::path(-err); // ETIME: the deadline passed
}

} // namespace

struct sync_client::channel {
    unique_fd fd;
    node_id peer = 0;
    std::uint64_t next_request_id = 1;
    std::uint64_t last_used_ns = 0;
    receive_timeout rcv_timeout;
};

sync_client::sync_client(local_identity id, peer_table& peers, transport_counters& counters)
    : id_(id),
      peers_(peers),
      counters_(counters),
      pools_(new pool[peers.node_count()]) {}

sync_client::~sync_client() { close_all_idle(); }

void sync_client::close_idle(node_id dst) noexcept {
    if (dst >= peers_.node_count()) return;
    std::array<channel*, max_idle> drop{};
    std::size_t n = 0;
    {
        std::lock_guard lock(pools_[dst].mu);
        n = pools_[dst].count;
        for (std::size_t i = 0; i < n; ++i) drop[i] = std::exchange(pools_[dst].idle[i], nullptr);
        pools_[dst].count = 0;
    }
    for (std::size_t i = 0; i < n; ++i) delete drop[i];
}

void sync_client::close_all_idle() noexcept {
    for (node_id n = 0; n < peers_.node_count(); ++n) close_idle(n);
}

result<std::unique_ptr<sync_client::channel>> sync_client::acquire(node_id dst, deadline dl) noexcept {
    for (;;) {
        std::unique_ptr<channel> ch;
        {
            std::lock_guard lock(pools_[dst].mu);
            pool& p = pools_[dst];
            if (p.count == 0) break;
            ch.reset(std::exchange(p.idle[--p.count], nullptr));
        }
        if (now_ns() - ch->last_used_ns > stale_check_after_ns) {
            pollfd p{ch->fd.get(), POLLIN | POLLRDHUP, 0};
            if (::poll(&p, 1, 0) != 0) continue; // EOF/RST pending (or stray bytes): discard
        }
        return ch;
    }
    return connect(dst, dl);
}

void sync_client::release(std::unique_ptr<channel> ch) noexcept {
    ch->last_used_ns = now_ns();
    pool& p = pools_[ch->peer];
    std::lock_guard lock(p.mu);
    if (p.count < max_idle) p.idle[p.count++] = ch.release(); // else it closes as `ch` goes
}

result<std::unique_ptr<sync_client::channel>> sync_client::connect(node_id dst, deadline dl) noexcept {
    io_ring* r = this_thread_ring();
    if (r == nullptr) return failure::path(ENOMEM); // no ring for this thread
    // This thread may wait for a lookup of the node's name (no later than the request's deadline):
    // it waits for this node anyway, and the lookup itself runs on the resolver thread.
    auto addr = peers_.resolve(dst, dl);
    if (!addr) // no address configured, or its name does not resolve
        return failure::path(EDESTADDRREQ);

    std::uint64_t backoff_ns = first_connect_backoff_ns;
    for (;;) {
        auto ch = std::make_unique<channel>();
        ch->peer = dst;
        ch->fd.reset(::socket(addr->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!ch->fd) return failure::path(errno);
        configure_peer_socket(ch->fd.get(),
                              static_cast<std::uint32_t>(std::max<std::uint64_t>(dl.remaining_ns() / 1'000'000, 1000)));
        counters_.connects.fetch_add(1, std::memory_order_relaxed);

        std::uint64_t tag = new_tag();
        io_uring_sqe* s = r->sqe();
        io_uring_prep_connect(s, ch->fd.get(), addr->sa(), addr->length);
        io_uring_sqe_set_data64(s, tag);
        about_to_block(); // a host that is down may take until the deadline to say so
        int rc = r->wait_for(tag, dl);
        if (rc == 0) {
            auto hs = handshake(*ch, dl);
            if (!hs) return hs.error();
            return ch;
        }
        if (rc == -ETIME) return failure::path(ETIMEDOUT); // no connection in time: not ETIME, its host never accepted
        bool ever = peers_.ever_alive(dst);
        // A node that never answered may still be starting: keep trying until the deadline.
        if (!ever && (rc == -ECONNREFUSED || rc == -ECONNRESET) && dl.remaining_ns() > backoff_ns) {
            std::this_thread::sleep_for(nanoseconds(backoff_ns));
            backoff_ns = next_connect_backoff(backoff_ns);
            continue;
        }
        return failure::path(-rc);
    }
}

result<void> sync_client::handshake(channel& ch, deadline dl) noexcept {
    const node_id dst = ch.peer;
    auto fail = [&](int err) -> failure {
        counters_.handshake_failures.fetch_add(1, std::memory_order_relaxed);
        if (err == err_bad_header || err == err_too_long || err == -EACCES)
            return failure::path(EACCES); // it did not prove the cluster secret
        return failure_of_step(err);
    };

    wire::client_handshake hs(id_.key, id_.self, id_.incarnation, dst);
    const wire::message hello = hs.hello();
    wire::frame_header hh = wire::make_header(hello, id_.self, 0);
    iovec iov[2] = {{&hh, sizeof hh}, {const_cast<std::byte*>(hello.payload.data()), hello.payload.size()}};
    wire::frame_header ch_h{};
    std::byte buf[wire::nonce_size + wire::mac_size];
    std::size_t n = 0;
    if (int e = transact(ch.fd.get(), ch.rcv_timeout, iov, 2, ch_h, buf, dl, n); e < 0) return fail(e);
    if (hs.on_challenge(ch_h, std::span(buf, n)) != wire::handshake_verdict::ok) return fail(-EACCES);

    const wire::message auth = hs.auth();
    wire::frame_header ah = wire::make_header(auth, id_.self, 0);
    iovec aiov[2] = {{&ah, sizeof ah}, {const_cast<std::byte*>(auth.payload.data()), auth.payload.size()}};
    wire::frame_header wh{};
    if (int e = transact(ch.fd.get(), ch.rcv_timeout, aiov, 2, wh, {}, dl, n); e < 0) return fail(e);
    if (!hs.on_welcome(wh)) return fail(-EACCES);
    peers_.mark_alive(dst, hs.server_incarnation());
    return success();
}

void sync_client::drop_channel(void* state) noexcept { delete static_cast<channel*>(state); }

result<pending_call> sync_client::start(node_id dst, const wire::message& m, deadline dl) noexcept {
    if (dst >= peers_.node_count()) return failure::path(EINVAL);
    auto acquired = acquire(dst, dl);
    if (!acquired) return transport_failed(dst, acquired.error());
    std::unique_ptr<channel> ch = std::move(acquired.value());
    const std::uint64_t id = ch->next_request_id++;
    counters_.requests.fetch_add(1, std::memory_order_relaxed);
    wire::frame_header h = wire::make_header(m, id_.self, id);
    iovec iov[3] = {{&h, sizeof h},
                    {const_cast<std::byte*>(m.payload.data()), m.payload.size()},
                    {const_cast<std::byte*>(m.payload_tail.data()), m.payload_tail.size()}};
    if (int e = send_request(ch->fd.get(), iov, m.payload_tail.empty() ? (m.payload.empty() ? 1 : 2) : 3, dl); e < 0) {
        if (e == -ETIME) counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
        return transport_failed(dst, failure_of_step(e));
    }
    peers_.count_sent(dst, sizeof h + m.payload_size());
    return pending_call(dst, id, ch.release(), &drop_channel);
}

result<wire::message> sync_client::collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept {
    if (!p) return failure::path(EINVAL); // a call not started
    const std::uint64_t id = p.id();
    std::unique_ptr<channel> ch(static_cast<channel*>(p.take_state()));
    const node_id dst = ch->peer;

    wire::frame_header header{};
    std::size_t payload_size = 0;
    int e = receive_reply(ch->fd.get(), ch->rcv_timeout, header, payload_out, dl, payload_size,
                          poll_ns_.load(std::memory_order_relaxed));
    if (e < 0) {
        if (e == -ETIME) counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
        if (e == err_bad_header || e == err_too_long) counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
        return transport_failed(dst, failure_of_step(e));
    }
    peers_.count_received(dst, wire::header_size + payload_size);
    if (header.request_id != id || !wire::is_reply(header) || header.source != dst) {
        counters_.bad_frames.fetch_add(1, std::memory_order_relaxed);
        return transport_failed(dst, failure::path(EPROTO));
    }
    auto received = payload_out.first(payload_size);
    if (!wire::payload_ok(header, received)) {
        counters_.corrupt_payloads.fetch_add(1, std::memory_order_relaxed);
        release(std::move(ch)); // the frame boundary is intact: only the payload is damaged
        return failure::path(EBADMSG);
    }
    release(std::move(ch));
    if (header.status != static_cast<std::uint8_t>(fetch_status::ok)) return wire::failure_of(header);
    return wire::decode(header, received);
}

// A failure of the path to `dst` (not an answer from it): one that looks like its process is gone
// makes it a suspect the service thread looks at (peer_table::suspect).
failure sync_client::transport_failed(node_id dst, failure f) noexcept {
    if (peers_.ever_alive(dst) && peer_process_gone(f.code)) peers_.suspect(dst);
    return f;
}

} // namespace aether
