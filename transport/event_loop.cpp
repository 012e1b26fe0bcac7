// The service thread's io_uring loop: connections, handshakes, framing, async calls and timers.
#include "transport/event_loop.hpp"

#include "aether/internal/fd.hpp"
#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "transport/frame_reader.hpp"
#include "transport/handshake.hpp"
#include "transport/peer_socket.hpp"
#include "transport/io_ring.hpp"
#include "transport/path_error.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace aether {

namespace {

// user_data = connection id << 4 | operation kind. Connection id 0 is the loop itself.
enum op_kind : std::uint64_t { op_recv = 1, op_send = 2, op_connect = 3, op_accept = 4, op_wake = 5, op_cancel = 6 };
constexpr std::uint64_t tag(std::uint64_t conn, op_kind k) { return conn << 4 | k; }

constexpr std::uint64_t handshake_timeout_ns = 10'000'000'000;
constexpr std::uint64_t max_wait_ns = 1'000'000'000;

enum class conn_state : std::uint8_t {
    connecting,      // outbound: connect() in flight
    await_challenge, // outbound: hello sent
    await_welcome,   // outbound: auth sent
    await_hello,     // inbound: accepted
    await_auth,      // inbound: challenge sent
    established,
    closing,
};

struct connection {
    std::uint64_t id = 0;
    bool outbound = false;
    conn_state state = conn_state::await_hello;
    unique_fd fd;
    node_id peer = no_node;
    wire::frame_reader reader;
    std::vector<std::byte> out;     // bytes queued behind the send in flight
    std::vector<std::byte> sending; // bytes of the send in flight
    std::size_t sent = 0;
    std::vector<std::byte> held; // outbound requests waiting for the handshake to finish
    int ops = 0;                 // io_uring operations in flight that reference this object
    bool recv_armed = false;
    bool send_armed = false;
    wire::client_handshake client_hs; // outbound
    wire::server_handshake server_hs; // inbound
    std::uint64_t handshake_timer = 0;
    std::uint64_t connect_backoff_ns = first_connect_backoff_ns;
};

struct outbound_call {
    node_id dst = 0;
    std::uint64_t conn = 0; // connection the request went out on (0: not sent)
    std::uint64_t timer = 0;
    async_callback cb;
};

} // namespace

struct event_loop::impl {
    options opt;
    request_handler& handler;
    io_ring ring;
    unique_fd listener;
    peer_address listen_addr;
    std::uint16_t bound_port = 0;
    unique_fd wake_fd;
    std::uint64_t wake_buf = 0;
    bool accept_armed = false;
    std::uint64_t listener_gen = 1;
    bool online = true;
    bool running = false;
    std::thread thread;
    pthread_t loop_tid{};
    std::atomic<bool> started{false};

    std::unordered_map<std::uint64_t, std::unique_ptr<connection>> conns;
    std::vector<std::uint64_t> outbound_by_node; // connection id per destination, 0 if none
    std::uint64_t next_conn_id = 1;

    std::unordered_map<std::uint64_t, outbound_call> calls;
    std::uint64_t next_call_id = 1;

    std::multimap<std::uint64_t, std::uint64_t> timer_order; // deadline ns -> timer id
    std::unordered_map<std::uint64_t, std::pair<std::uint64_t, std::function<void()>>> timers;
    std::uint64_t next_timer_id = 1;

    std::mutex post_mu;
    std::vector<std::function<void()>> posted;
    std::atomic<bool> has_posted{false};
    std::function<void()> on_turn; // runs on the loop thread after every turn
    std::atomic<std::uint64_t> posted_count{0};

    impl(options o, request_handler& h)
        : opt(std::move(o)),
          handler(h),
          outbound_by_node(opt.peers->node_count(), 0) {}

    spdlog::logger& log() { return log::transport(); }

    // ---- submission helpers -------------------------------------------------------------------

    void arm_recv(connection& c) {
        if (c.recv_armed || c.state == conn_state::closing) return;
        auto space = c.reader.writable();
        io_uring_sqe* s = ring.sqe();
        io_uring_prep_recv(s, c.fd.get(), space.data(), space.size(), 0);
        // Re-armed right after a frame was taken: the next one is rarely there yet, so wait for
        // data rather than try a receive that would fail first.
        s->ioprio |= IORING_RECVSEND_POLL_FIRST;
        io_uring_sqe_set_data64(s, tag(c.id, op_recv));
        c.recv_armed = true;
        ++c.ops;
    }

    void kick_send(connection& c) {
        if (c.send_armed || c.state == conn_state::closing) return;
        for (;;) {
            if (c.sending.size() == c.sent) {
                if (c.out.empty()) return;
                c.sending.clear();
                c.sending.swap(c.out);
                c.sent = 0;
            }
            // Nothing is in flight on this socket: try to send at once. A reply almost always fits
            // in the socket buffer, and then no operation needs to go through the ring at all.
            iovec rest{c.sending.data() + c.sent, c.sending.size() - c.sent};
            ssize_t n = send_nowait(c.fd.get(), &rest, 1);
            if (n < 0) {
                close(c, failure::path(static_cast<int>(-n)));
                return;
            }
            c.sent += static_cast<std::size_t>(n);
            if (n > 0 && c.sent == c.sending.size()) continue;
            break; // the rest waits for room in the socket: the ring sends it
        }
        io_uring_sqe* s = ring.sqe();
        io_uring_prep_send(s, c.fd.get(), c.sending.data() + c.sent, c.sending.size() - c.sent, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, tag(c.id, op_send));
        c.send_armed = true;
        ++c.ops;
    }

    void arm_accept() {
        if (accept_armed || !listener) return;
        io_uring_sqe* s = ring.sqe();
        io_uring_prep_multishot_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        // The listener's generation rides in the id field, so completions of an old listener's
        // accept (after going offline and online again) are told apart from the current one's.
        io_uring_sqe_set_data64(s, tag(listener_gen, op_accept));
        accept_armed = true;
    }

    void arm_wake() {
        io_uring_sqe* s = ring.sqe();
        io_uring_prep_read(s, wake_fd.get(), &wake_buf, sizeof wake_buf, 0);
        io_uring_sqe_set_data64(s, tag(0, op_wake));
    }

    void send_frame(connection& c, const wire::message& m, std::uint64_t request_id) {
        wire::frame_header h = wire::make_header(m, opt.id.self, request_id);
        opt.peers->count_sent(c.peer, sizeof h + m.payload_size());
        // Nothing queued or in flight on this socket (the common case): send straight from the
        // header and the caller's payload, without first copying them into the queue. What the
        // socket does not take now is queued as usual.
        std::size_t done = 0;
        if (c.out.empty() && c.sending.size() == c.sent && !c.send_armed && c.state == conn_state::established) {
            iovec iov[3] = {{&h, sizeof h},
                            {const_cast<std::byte*>(m.payload.data()), m.payload.size()},
                            {const_cast<std::byte*>(m.payload_tail.data()), m.payload_tail.size()}};
            ssize_t n = send_nowait(c.fd.get(), iov, m.payload_tail.empty() ? (m.payload.empty() ? 1 : 2) : 3);
            if (n < 0) {
                close(c, failure::path(static_cast<int>(-n)));
                return;
            }
            done = static_cast<std::size_t>(n);
            if (done == sizeof h + m.payload_size()) return;
        }
        wire::append_frame(c.out, h, m, done);
        kick_send(c);
    }

    // ---- connections ----------------------------------------------------------------------------

    connection& add_connection(int fd, bool outbound, node_id peer) {
        auto c = std::make_unique<connection>();
        c->id = next_conn_id++;
        c->fd.reset(fd);
        c->outbound = outbound;
        c->peer = peer;
        c->state = outbound ? conn_state::connecting : conn_state::await_hello;
        connection& ref = *c;
        conns.emplace(ref.id, std::move(c));
        std::uint64_t id = ref.id;
        ref.handshake_timer = add_timer(deadline::after_ns(handshake_timeout_ns), [this, id] {
            if (auto* cc = find(id); cc && cc->state != conn_state::established) {
                log().warn("connection {} to/from node {}: handshake did not finish in time", id, cc->peer);
                close(*cc, failure::path(ETIME)); // its host accepted: TIMEOUT, not UNREACHABLE
            }
        });
        return ref;
    }

    connection* find(std::uint64_t id) {
        auto it = conns.find(id);
        return it == conns.end() ? nullptr : it->second.get();
    }

    // Closes a connection: shutdown() completes every receive and send in flight; the object is
    // freed once none remains (see reap()). Calls waiting on an outbound connection fail with `why`.
    void close(connection& c, failure why) {
        if (c.state == conn_state::closing) return;
        ::shutdown(c.fd.get(), SHUT_RDWR);
        retire(c, why);
    }

    // Takes `c` out of the loop without ending the stream (close() does both): its operations are
    // cancelled, its descriptor closed once they have ended.
    void retire(connection& c, failure why) {
        c.state = conn_state::closing;
        cancel_timer(c.handshake_timer);
        if (c.ops > 0) {
            io_uring_sqe* s = ring.sqe();
            io_uring_prep_cancel_fd(s, c.fd.get(), IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(s, tag(c.id, op_cancel));
            ++c.ops;
        }
        if (c.outbound) {
            if (c.peer < outbound_by_node.size() && outbound_by_node[c.peer] == c.id) outbound_by_node[c.peer] = 0;
            fail_calls_on(c.id, why);
        }
    }

    void fail_calls_on(std::uint64_t conn_id, failure f) {
        std::vector<std::uint64_t> ids;
        for (auto& [id, pc] : calls)
            if (pc.conn == conn_id) ids.push_back(id);
        for (auto id : ids) complete_call(id, f);
    }

    void reap() {
        for (auto it = conns.begin(); it != conns.end();) {
            if (it->second->state == conn_state::closing && it->second->ops == 0)
                it = conns.erase(it);
            else
                ++it;
        }
    }

    // ---- calls ----------------------------------------------------------------------------------

    void complete_call(std::uint64_t call_id, result<wire::message> r) {
        auto it = calls.find(call_id);
        if (it == calls.end()) return;
        outbound_call pc = std::move(it->second);
        calls.erase(it);
        call_frames.erase(call_id);
        cancel_timer(pc.timer);
        if (!r.ok() && ran_out_of_time(r.error().code)) opt.counters->timeouts.fetch_add(1, std::memory_order_relaxed);
        try {
            pc.cb(r);
        } catch (const std::exception& e) {
            log().error("async call completion threw: {}", e.what());
        }
    }

    // The errno of a call whose deadline passed: ETIME if its request went out on a connection the
    // node's host accepted, ETIMEDOUT if no connection was made in time (then a node that never
    // answered is UNREACHABLE, not slow).
    int deadline_errno(std::uint64_t call_id) {
        auto it = calls.find(call_id);
        const connection* c = it == calls.end() || it->second.conn == 0 ? nullptr : find(it->second.conn);
        return c != nullptr && c->state != conn_state::connecting ? ETIME : ETIMEDOUT;
    }

    connection* outbound_to(node_id dst) {
        if (std::uint64_t id = outbound_by_node[dst]; id != 0) {
            connection* c = find(id);
            if (c) return c;
        }
        return nullptr;
    }

    connection* open_outbound(node_id dst, failure& why) {
        auto addr = opt.peers->address(dst);
        if (!addr) {
            // No address configured, or a name that has not resolved yet. This thread serves every
            // other node: it never waits for a lookup (getaddrinfo has no deadline). The resolver
            // looks the name up meanwhile; the call fails now, UNREACHABLE, as for any node not
            // reached yet, and the next one finds the address if the name resolved.
            opt.peers->resolve_soon(dst);
            why = failure::path(EDESTADDRREQ);
            return nullptr;
        }
        int fd = ::socket(addr->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            why = failure::path(errno);
            return nullptr;
        }
        configure_peer_socket(fd);
        connection& c = add_connection(fd, true, dst);
        outbound_by_node[dst] = c.id;
        opt.counters->connects.fetch_add(1, std::memory_order_relaxed);
        submit_connect(c, *addr);
        return &c;
    }

    // The address of each connect() in flight: io_uring reads it when the operation runs.
    std::unordered_map<std::uint64_t, peer_address> connect_addrs;

    void submit_connect(connection& c, const peer_address& addr) {
        auto& stored = connect_addrs[c.id] = addr;
        io_uring_sqe* s = ring.sqe();
        io_uring_prep_connect(s, c.fd.get(), stored.sa(), stored.length);
        io_uring_sqe_set_data64(s, tag(c.id, op_connect));
        ++c.ops;
    }

    void on_connect(connection& c, int res) {
        --c.ops;
        if (c.state == conn_state::closing) return;
        if (res < 0) {
            bool ever = opt.peers->ever_alive(c.peer);
            // A node that never answered may still be starting: retry while calls are waiting.
            if (!ever && (res == -ECONNREFUSED || res == -ECONNRESET) && has_calls_for(c.peer)) {
                node_id dst = c.peer;
                std::uint64_t backoff = next_connect_backoff(c.connect_backoff_ns);
                for (auto& [id, pc] : calls)
                    if (pc.conn == c.id) pc.conn = 0; // keep the calls: they move to the next attempt
                close(c, failure::path(-res));
                add_timer(deadline::after_ns(backoff), [this, dst, backoff] { retry_connect(dst, backoff); });
                return;
            }
            if (ever && peer_process_gone(-res)) opt.peers->suspect(c.peer); // it was up, now it refuses
            close(c, failure::path(-res));
            return;
        }
        connect_addrs.erase(c.id);
        c.state = conn_state::await_challenge;
        c.client_hs = wire::client_handshake(opt.id.key, opt.id.self, opt.id.incarnation, c.peer);
        send_frame(c, c.client_hs.hello(), 0);
        arm_recv(c);
    }

    bool has_calls_for(node_id dst) const {
        for (auto& [id, pc] : calls)
            if (pc.dst == dst) return true;
        return false;
    }

    // Re-opens the connection for the calls still waiting for a node that is starting up.
    void retry_connect(node_id dst, std::uint64_t backoff) {
        if (!has_calls_for(dst) || outbound_to(dst) != nullptr) return;
        failure why;
        connection* c = open_outbound(dst, why);
        if (c == nullptr) {
            for (auto& [id, pc] : calls)
                if (pc.dst == dst) pc.conn = UINT64_MAX;
            fail_calls_on(UINT64_MAX, why);
            return;
        }
        c->connect_backoff_ns = backoff;
        for (auto& [id, pc] : calls)
            if (pc.dst == dst && pc.conn == 0) pc.conn = c->id;
        // The held request frames were lost with the refused connection: resend them.
        for (auto& [id, pc] : calls)
            if (pc.dst == dst && pc.conn == c->id) resend_.push_back(id);
        flush_resends(*c);
    }

    // Requests that must be re-framed on a new connection (kept with their calls).
    std::vector<std::uint64_t> resend_;
    std::unordered_map<std::uint64_t, std::pair<wire::message, std::vector<std::byte>>> call_frames;

    void flush_resends(connection& c) {
        for (auto id : resend_) {
            auto it = call_frames.find(id);
            if (it == call_frames.end()) continue;
            wire::message m = it->second.first;
            m.payload = it->second.second;
            queue_request(c, m, id);
        }
        resend_.clear();
    }

    void queue_request(connection& c, const wire::message& m, std::uint64_t call_id) {
        wire::frame_header h = wire::make_header(m, opt.id.self, call_id);
        std::vector<std::byte>& target = c.state == conn_state::established ? c.out : c.held;
        append_frame(target, h, m);
        if (c.state == conn_state::established) kick_send(c);
    }

    // ---- frames ---------------------------------------------------------------------------------

    void on_recv(connection& c, int res) {
        --c.ops;
        c.recv_armed = false;
        if (c.state == conn_state::closing) return;
        if (res <= 0) {
            // End of stream: the peer closed, as a reset says too.
            const int err = res == 0 ? ECONNRESET : -res;
            // The peer closed or reset a working connection: its process may be gone.
            if (peer_process_gone(err) && c.state == conn_state::established && running && online) opt.peers->suspect(c.peer);
            close(c, failure::path(err));
            return;
        }
        c.reader.commit(static_cast<std::size_t>(res));
        wire::frame_view f;
        for (;;) {
            auto st = c.reader.next(f);
            if (st == wire::frame_reader::status::need_more) break;
            if (st == wire::frame_reader::status::bad_header) {
                opt.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
                log().warn("closing connection {} (node {}): malformed frame: {}", c.id, c.peer == no_node ? -1 : int(c.peer),
                           wire::to_string(c.reader.last_error()));
                close(c, failure::path(EPROTO));
                return;
            }
            on_frame(c, f);
            if (c.state == conn_state::closing) return;
        }
        arm_recv(c);
    }

    void protocol_error(connection& c, const char* what) {
        opt.counters->bad_frames.fetch_add(1, std::memory_order_relaxed);
        log().warn("closing connection {} (node {}): {}", c.id, c.peer == no_node ? -1 : int(c.peer), what);
        close(c, failure::path(EPROTO));
    }

    void on_frame(connection& c, wire::frame_view& f) {
        const wire::frame_header& h = f.header;
        opt.peers->count_received(c.peer, wire::header_size + f.payload.size()); // (no one yet before a hello)
        switch (c.state) {
        case conn_state::await_hello: {
            c.server_hs = wire::server_handshake(opt.id.key, opt.id.self, opt.id.incarnation, opt.peers->node_count());
            if (c.server_hs.on_hello(h, f.payload) != wire::handshake_verdict::ok)
                return protocol_error(c, "expected a hello for this node");
            c.peer = c.server_hs.client();
            send_frame(c, c.server_hs.challenge(), 0);
            c.state = conn_state::await_auth;
            return;
        }
        case conn_state::await_auth: {
            if (c.server_hs.on_auth(h, f.payload) != wire::handshake_verdict::ok) {
                opt.counters->handshake_failures.fetch_add(1, std::memory_order_relaxed);
                return protocol_error(c, "authentication failed (wrong cluster secret?)");
            }
            if (c.peer == wire::admin_client) return hand_over_admin_client(c);
            send_frame(c, wire::message{.type = wire::msg::welcome}, 0);
            established(c, c.server_hs.client_incarnation());
            return;
        }
        case conn_state::await_challenge: {
            switch (c.client_hs.on_challenge(h, f.payload)) {
            case wire::handshake_verdict::ok: break;
            case wire::handshake_verdict::unexpected:
                opt.counters->handshake_failures.fetch_add(1, std::memory_order_relaxed);
                return protocol_error(c, "expected a challenge from the node dialled");
            case wire::handshake_verdict::not_proven:
                opt.counters->handshake_failures.fetch_add(1, std::memory_order_relaxed);
                return protocol_error(c, "the node dialled did not prove the cluster secret");
            }
            send_frame(c, c.client_hs.auth(), 0);
            c.state = conn_state::await_welcome;
            return;
        }
        case conn_state::await_welcome: {
            if (!c.client_hs.on_welcome(h)) return protocol_error(c, "expected a welcome");
            established(c, c.client_hs.server_incarnation());
            c.out.insert(c.out.end(), c.held.begin(), c.held.end());
            c.held.clear();
            kick_send(c);
            return;
        }
        case conn_state::established:
            if (c.outbound)
                on_reply(c, f);
            else
                on_inbound_request(c, f);
            return;
        case conn_state::connecting:
        case conn_state::closing: return;
        }
    }

    // An operator's tool, not a peer: the stream leaves the loop for the handler, which answers it
    // on a thread of its own. The handler gets a duplicate of the socket, and this one is retired
    // without a shutdown, which would end the stream for both.
    void hand_over_admin_client(connection& c) {
        unique_fd stream(::fcntl(c.fd.get(), F_DUPFD_CLOEXEC, 0));
        retire(c, failure{}); // inbound: no call of this node waits on it
        if (stream.get() < 0) return;
        const int flags = ::fcntl(stream.get(), F_GETFL);
        if (flags >= 0) (void)::fcntl(stream.get(), F_SETFL, flags & ~O_NONBLOCK);
        handler.on_admin_client(std::move(stream));
    }

    void established(connection& c, std::uint64_t incarnation) {
        c.state = conn_state::established;
        cancel_timer(c.handshake_timer);
        c.handshake_timer = 0;
        std::uint64_t before = opt.peers->mark_alive(c.peer, incarnation);
        // A node that reaches this one may be one whose name did not resolve here yet (its host
        // booted after this node started): look it up now, before this node has to call it back
        // (an invalidation of a copy it is about to fetch).
        if (!c.outbound) opt.peers->resolve_soon(c.peer);
        if (before != 0 && before != incarnation) {
            log().info("node {} restarted (incarnation {:x} -> {:x})", c.peer, before, incarnation);
            handler.on_peer_restarted(c.peer);
        }
    }

    void on_inbound_request(connection& c, wire::frame_view& f) {
        const wire::frame_header& h = f.header;
        if (wire::is_reply(h) || h.source != c.peer) return protocol_error(c, "unexpected reply or source node");
        reply_token r(c.id, h.request_id, c.peer, wire::type_of(h));
        if (!wire::payload_ok(h, f.payload)) {
            // The frame boundary is intact; only the bytes are damaged: refuse this request alone.
            opt.counters->corrupt_payloads.fetch_add(1, std::memory_order_relaxed);
            wire::message m{.type = r.type()};
            m.status = fetch_status::corruption;
            m.reason = void_reason::corruption;
            reply(r, m);
            return;
        }
        handler.on_request(inbound_request{c.peer, wire::decode(h, f.payload)}, r);
    }

    void reply(const reply_token& r, const wire::message& m) {
        connection* c = find(r.route());
        if (c == nullptr || c->state != conn_state::established) return; // the requester went away
        wire::message out = m;
        out.type = r.type();
        out.flags |= wire::flag::reply;
        send_frame(*c, out, r.request_id());
    }

    void on_reply(connection& c, wire::frame_view& f) {
        const wire::frame_header& h = f.header;
        if (!wire::is_reply(h) || h.source != c.peer) return protocol_error(c, "expected a reply");
        auto it = calls.find(h.request_id);
        if (it == calls.end()) return; // a late reply to a call that already timed out
        if (!wire::payload_ok(h, f.payload)) {
            opt.counters->corrupt_payloads.fetch_add(1, std::memory_order_relaxed);
            complete_call(h.request_id, failure::path(EBADMSG));
            return;
        }
        if (h.status != static_cast<std::uint8_t>(fetch_status::ok)) {
            complete_call(h.request_id, wire::failure_of(h));
            return;
        }
        call_frames.erase(h.request_id);
        complete_call(h.request_id, wire::decode(h, f.payload));
    }

    // ---- timers and posted tasks ----------------------------------------------------------------

    std::uint64_t add_timer(deadline when, std::function<void()> fn) {
        std::uint64_t id = next_timer_id++;
        timer_order.emplace(when.ns(), id);
        timers.emplace(id, std::make_pair(when.ns(), std::move(fn)));
        return id;
    }

    void cancel_timer(std::uint64_t id) {
        if (id == 0) return;
        auto it = timers.find(id);
        if (it == timers.end()) return;
        auto range = timer_order.equal_range(it->second.first);
        for (auto o = range.first; o != range.second; ++o)
            if (o->second == id) {
                timer_order.erase(o);
                break;
            }
        timers.erase(it);
    }

    void run_timers() {
        std::uint64_t now = now_ns();
        while (!timer_order.empty() && timer_order.begin()->first <= now) {
            std::uint64_t id = timer_order.begin()->second;
            timer_order.erase(timer_order.begin());
            auto it = timers.find(id);
            if (it == timers.end()) continue;
            auto fn = std::move(it->second.second);
            timers.erase(it);
            fn();
        }
    }

    void run_posted() {
        if (!has_posted.load(std::memory_order_acquire)) return;
        std::vector<std::function<void()>> tasks;
        {
            std::lock_guard lock(post_mu);
            tasks.swap(posted);
            has_posted.store(false, std::memory_order_relaxed);
        }
        for (auto& t : tasks) {
            try {
                t();
            } catch (const std::exception& e) {
                log().error("posted task threw: {}", e.what());
            }
        }
    }

    // ---- online / offline -----------------------------------------------------------------------

    // Listens on listen_addr, or takes over `inherited_socket` (already listening there, see
    // listen_endpoint). The port it gets is kept for coming back online.
    int open_listener(int inherited_socket) {
        constexpr int backlog = 1024;
        // SO_REUSEADDR on every listener this node has had: after going offline its old socket
        // stays bound until the cancelled accept lets go of it, and only a socket with the flag
        // lets the new one bind the port meanwhile.
        const int one = 1;
        int fd = inherited_socket;
        if (fd >= 0) {
            // The node's own socket from now on: not passed on to programs the node executes, and
            // with the node's backlog rather than the launcher's (listen() again only resizes it).
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            ::listen(fd, backlog);
        } else {
            fd = ::socket(listen_addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) return -errno;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (::bind(fd, listen_addr.sa(), listen_addr.length) < 0 || ::listen(fd, backlog) < 0) {
                int e = errno;
                ::close(fd);
                return -e;
            }
        }
        peer_address bound;
        bound.length = sizeof bound.storage;
        getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length);
        bound_port = bound.port();
        listen_addr.set_port(bound_port); // come back on the same port when set online again
        listener.reset(fd);
        return 0;
    }

    void go_offline() {
        if (!online) return;
        online = false;
        if (listener) {
            // shutdown() stops the listener at once (new connections are refused) and ends its
            // accept; the descriptor can be closed now, the accept holds its own reference.
            ::shutdown(listener.get(), SHUT_RDWR);
            io_uring_sqe* s = ring.sqe();
            io_uring_prep_cancel64(s, tag(listener_gen, op_accept), IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(s, tag(0, op_cancel));
            listener.reset();
            ++listener_gen;
            accept_armed = false;
        }
        for (auto& [id, c] : conns) close(*c, failure::path(ESHUTDOWN));
    }

    // Returns once the node listens again, on the same port.
    void go_online() {
        if (online) return;
        online = true;
        if (int e = open_listener(-1); e < 0) {
            log().error("cannot listen on {} again: {}", listen_addr.text, std::strerror(-e));
            return;
        }
        arm_accept();
    }

    // ---- the loop -------------------------------------------------------------------------------

    void dispatch(io_uring_cqe* cqe) {
        const std::uint64_t ud = cqe->user_data;
        const int res = cqe->res;
        const auto kind = static_cast<op_kind>(ud & 0xF);
        const std::uint64_t cid = ud >> 4;
        if (kind == op_accept) {
            on_accept(cid, res, cqe->flags);
            return;
        }
        if (cid == 0) {
            if (kind == op_wake && running) arm_wake();
            return;
        }
        connection* c = find(cid);
        if (c == nullptr) return;
        switch (kind) {
        case op_recv: on_recv(*c, res); break;
        case op_send:
            --c->ops;
            c->send_armed = false;
            if (c->state == conn_state::closing) break;
            if (res < 0) {
                close(*c, failure::path(-res));
                break;
            }
            c->sent += static_cast<std::size_t>(res);
            kick_send(*c);
            break;
        case op_connect: on_connect(*c, res); break;
        case op_cancel: --c->ops; break;
        default: break;
        }
    }

    // `generation`: the listener the accept belongs to (see arm_accept).
    void on_accept(std::uint64_t generation, int res, std::uint32_t flags) {
        if (generation != listener_gen) { // an old listener's accept, finishing after offline/online
            if (res >= 0) ::close(res);
            return;
        }
        if (!(flags & IORING_CQE_F_MORE)) accept_armed = false;
        if (res >= 0) {
            if (!online || !running) {
                ::close(res);
            } else {
                configure_peer_socket(res);
                connection& c = add_connection(res, false, no_node);
                arm_recv(c);
            }
        } else if (res != -ECANCELED && res != -EINVAL && online) {
            log().warn("accept failed: {}", std::strerror(-res));
        }
        if (!accept_armed && online && running && listener) arm_accept();
    }

    void run() noexcept {
        runtime_scope whole_thread;
        arm_wake();
        arm_accept();
        while (running || !conns.empty()) {
            std::uint64_t wait = max_wait_ns;
            if (!timer_order.empty()) {
                std::uint64_t now = now_ns(), first = timer_order.begin()->first;
                wait = first <= now ? 0 : std::min(wait, first - now);
            }
            if (has_posted.load(std::memory_order_acquire)) wait = 0;
            if (!running) wait = std::min<std::uint64_t>(wait, 10'000'000);
            // A node that just served a request is likely to get the next one soon: poll briefly
            // before sleeping, so it is taken without a wake-up.
            if (wait > 0 && served_last_round && opt.poll_ns > 0 && ring.poll_for_completion(std::min(opt.poll_ns, wait)))
                wait = 0;
            __kernel_timespec ts{static_cast<long long>(wait / 1'000'000'000), static_cast<long long>(wait % 1'000'000'000)};
            io_uring_cqe* cqe = nullptr;
            // Without a timer due there is nothing to wake for but an event (posted tasks and
            // stop() write the eventfd): sleep without arming a kernel timer.
            const bool untimed = timer_order.empty() && running && wait > 0;
            int rc = untimed ? io_uring_submit_and_wait(ring.get(), 1)
                             : io_uring_submit_and_wait_timeout(ring.get(), &cqe, 1, &ts, nullptr);
            if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
                log().error("io_uring wait failed: {}", std::strerror(-rc));
            unsigned head;
            unsigned n = 0;
            io_uring_for_each_cqe(ring.get(), head, cqe) {
                dispatch(cqe);
                ++n;
            }
            io_uring_cq_advance(ring.get(), n);
            served_last_round = n > 0;
            run_timers();
            run_posted();
            if (on_turn) on_turn();
            reap();
            if (!running) {
                if (!listener_shut_) {
                    if (listener) ::shutdown(listener.get(), SHUT_RDWR);
                    listener_shut_ = true;
                    drain_until_ = now_ns() + drain_ns;
                }
                // Replies already queued (the last barrier's, say) still go out, for a bounded time.
                for (auto& [id, c] : conns) {
                    bool sending = c->send_armed || !c->out.empty() || c->sent < c->sending.size();
                    if (sending && c->state == conn_state::established && now_ns() < drain_until_) continue;
                    close(*c, failure::path(ESHUTDOWN));
                }
                for (auto& [id, pc] : calls) pc.conn = UINT64_MAX;
                fail_calls_on(UINT64_MAX, failure::path(ESHUTDOWN));
                // Shutdown completes every socket operation at once; this bound only guards against
                // a kernel that does not, so the thread still ends (after about 2 s).
                if (n == 0 && !conns.empty() && ++wait_rounds_ > 200) {
                    log().error("{}: {} connections still busy at shutdown", opt.name, conns.size());
                    break;
                }
            }
        }
    }
    int wait_rounds_ = 0;
    bool served_last_round = false;
    bool listener_shut_ = false;
    std::uint64_t drain_until_ = 0;
    static constexpr std::uint64_t drain_ns = 1'000'000'000;
};

event_loop::event_loop(options opts, request_handler& handler)
    : impl_(std::make_unique<impl>(std::move(opts), handler)) {}

event_loop::~event_loop() { stop(); }

setup_result<std::uint16_t> event_loop::start(const listen_endpoint& listen_on) {
    impl& m = *impl_;
    m.listen_addr = listen_on.address;
    if (int e = m.open_listener(listen_on.inherited_socket); e < 0)
        return setup_error::from_errno(-e, {"cannot listen on ", listen_on.address.text});
    m.wake_fd.reset(::eventfd(0, EFD_CLOEXEC));
    if (!m.wake_fd) return setup_error::from_errno(errno, {"cannot make the service thread's eventfd"});
    std::promise<int> ready;
    auto ready_f = ready.get_future();
    m.running = true;
    m.thread = std::thread([&m, &ready] {
        // Named and scheduled before start() returns: what the runtime starts is in place when it
        // goes on.
        pthread_setname_np(pthread_self(), m.opt.name.substr(0, 15).c_str());
        apply_thread_priority(m.opt.priority);
        int rc = io_ring::create(m.ring, 256);
        m.loop_tid = pthread_self();
        m.started.store(true, std::memory_order_release);
        ready.set_value(rc);
        if (rc == 0) m.run();
    });
    int rc = ready_f.get();
    if (rc < 0) {
        m.thread.join();
        m.running = false;
        return setup_error::from_errno(-rc, {"cannot set up the service thread's io_uring"});
    }
    return m.bound_port;
}

void event_loop::stop() noexcept {
    impl& m = *impl_;
    if (!m.thread.joinable()) return;
    post([&m] { m.running = false; });
    m.thread.join();
}

std::uint16_t event_loop::port() const noexcept { return impl_->bound_port; }

void event_loop::post(std::function<void()> task) {
    impl& m = *impl_;
    {
        std::lock_guard lock(m.post_mu);
        m.posted.push_back(std::move(task));
        m.has_posted.store(true, std::memory_order_release);
    }
    m.posted_count.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(m.wake_fd.get(), &one, sizeof one);
}

void event_loop::set_online(bool online) {
    if (!impl_->thread.joinable()) return;
    std::promise<void> done;
    auto f = done.get_future();
    post([this, online, &done] {
        if (online)
            impl_->go_online();
        else
            impl_->go_offline();
        done.set_value();
    });
    f.wait();
}

bool event_loop::in_loop_thread() const noexcept {
    return impl_->started.load(std::memory_order_acquire) && pthread_equal(impl_->loop_tid, pthread_self());
}

void event_loop::reply(const reply_token& r, const wire::message& m) noexcept {
    try {
        impl_->reply(r, m);
    } catch (const std::exception& e) {
        log::transport().error("cannot queue a reply: {}", e.what());
    }
}

void event_loop::call(node_id dst, const wire::message& m, deadline dl, async_callback cb) noexcept {
    impl& im = *impl_;
    std::uint64_t id = im.next_call_id++;
    if (dst >= im.opt.peers->node_count()) {
        cb(failure::path(EINVAL));
        return;
    }
    try {
        outbound_call pc;
        pc.dst = dst;
        pc.cb = std::move(cb);
        pc.timer = im.add_timer(dl, [&im, id] { im.complete_call(id, failure::path(im.deadline_errno(id))); });
        im.calls.emplace(id, std::move(pc));
        im.opt.counters->requests.fetch_add(1, std::memory_order_relaxed);
        if (!im.online) {
            im.complete_call(id, failure::path(ESHUTDOWN)); // this node is offline
            return;
        }
        connection* c = im.outbound_to(dst);
        if (c == nullptr) {
            failure why;
            c = im.open_outbound(dst, why);
            if (c == nullptr) {
                im.complete_call(id, why);
                return;
            }
        }
        im.calls[id].conn = c->id;
        auto& stored = im.call_frames[id];
        stored.first = m;
        stored.second.assign(m.payload.begin(), m.payload.end());
        stored.second.insert(stored.second.end(), m.payload_tail.begin(), m.payload_tail.end());
        stored.first.payload = {};
        stored.first.payload_tail = {};
        im.queue_request(*c, m, id);
    } catch (const std::exception& e) {
        log::transport().error("cannot start a call to node {}: {}", dst, e.what());
        im.complete_call(id, failure::path(ENOMEM));
    }
}

void event_loop::disconnect(node_id dst, int err) noexcept {
    impl& im = *impl_;
    if (dst >= im.opt.peers->node_count()) return;
    if (connection* c = im.outbound_to(dst)) im.close(*c, failure::path(err));
}

void event_loop::watch(node_id dst) noexcept {
    impl& im = *impl_;
    if (dst >= im.opt.peers->node_count() || dst == im.opt.id.self || !im.online || !im.running) return;
    try {
        if (im.outbound_to(dst) != nullptr) return;
        failure why;
        (void)im.open_outbound(dst, why); // a failure shows in the next watch
    } catch (const std::exception& e) {
        log::transport().error("cannot open a connection to watch node {}: {}", dst, e.what());
    }
}

std::uint64_t event_loop::add_timer(deadline when, std::function<void()> fn) { return impl_->add_timer(when, std::move(fn)); }
void event_loop::cancel_timer(std::uint64_t id) noexcept { impl_->cancel_timer(id); }
void event_loop::flush() noexcept { io_uring_submit(impl_->ring.get()); }

void event_loop::nudge() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(impl_->wake_fd.get(), &one, sizeof one);
}

void event_loop::set_turn_hook(std::function<void()> fn) { impl_->on_turn = std::move(fn); }

std::uint64_t event_loop::posted_tasks() const noexcept { return impl_->posted_count.load(std::memory_order_relaxed); }

} // namespace aether
