#include "transport/injection_layer.hpp"

#include "aether/internal/blocking.hpp"
#include "transport/path_error.hpp"

#include <cerrno>
#include <thread>
#include <utility>
#include <vector>

namespace aether {
namespace {

// pending_call marks of this layer (the backend's are the low 16 bits).
constexpr std::uint32_t dropped_mark = 1u << 16; // TIMEOUT: nothing was sent
constexpr std::uint32_t corrupt_mark = 1u << 17; // CORRUPTION: the reply is damaged on arrival

bool cuts_path(void_reason r) noexcept { return r == void_reason::partition || r == void_reason::node_crashed; }

// `m` with its payload (both parts) damaged after its checksum was taken, as a faulty link would.
struct damaged_request {
    explicit damaged_request(const wire::message& in)
        : message(in) {
        bytes.assign(in.payload.begin(), in.payload.end());
        bytes.insert(bytes.end(), in.payload_tail.begin(), in.payload_tail.end());
        message.checksum = wire::payload_checksum(in.payload, in.payload_tail);
        message.has_checksum = true;
        fault_injector::damage(bytes);
        message.payload = bytes;
        message.payload_tail = {};
    }
    std::vector<std::byte> bytes;
    wire::message message;
};

// A reply's payload damaged on its way in, then checked against the checksum it came with, as a
// backend checks what it receives.
bool survives_damage(std::span<std::byte> payload, const wire::message& reply, transport_counters& counters) noexcept {
    fault_injector::damage(payload);
    if (!reply.has_checksum || wire::payload_checksum(payload) == reply.checksum) return true;
    counters.corrupt_payloads.fetch_add(1, std::memory_order_relaxed);
    return false;
}

// What both sides consult: the injected state, what this node knows of the peers, the counters.
struct injection_context {
    fault_injector& injector;
    peer_table& peers;
    transport_counters& counters;

    // PARTITION / NODE_CRASHED: the failure a connect() to `dst` would meet (ENETUNREACH,
    // ECONNREFUSED), given its reason by the runtime as a real one is. A node that answered before
    // and now refuses becomes a suspect, as with a real refused connect().
    [[nodiscard]] failure cut_failure(node_id dst) const noexcept {
        const int refused = injector.connect_errno(dst);
        if (peers.ever_alive(dst) && peer_process_gone(refused)) peers.suspect(dst);
        return failure::path(refused);
    }
};

class injecting_requester final : public request_transport_layer {
public:
    injecting_requester(std::unique_ptr<request_transport> inner, injection_context ctx)
        : request_transport_layer(std::move(inner)),
          ctx_(ctx) {}

    result<pending_call> start(node_id dst, const wire::message& m, deadline dl) noexcept override {
        const void_reason injected = ctx_.injector.active(dst);
        if (cuts_path(injected)) {
            inner().close_idle(dst);
            return ctx_.cut_failure(dst);
        }
        if (injected == void_reason::timeout) {
            ctx_.counters.requests.fetch_add(1, std::memory_order_relaxed);
            return pending_call(dst, 0, nullptr, nullptr, dropped_mark);
        }
        if (injected == void_reason::corruption) {
            try {
                auto p = inner().start(dst, damaged_request(m).message, dl);
                if (p) p->mark(corrupt_mark);
                return p;
            } catch (const std::bad_alloc&) {
                return failure::path(ENOMEM);
            }
        }
        return inner().start(dst, m, dl);
    }

    result<wire::message> collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept override {
        if ((p.marks() & dropped_mark) != 0) {
            (void)p.take_state();
            about_to_block();
            std::this_thread::sleep_for(std::chrono::nanoseconds(dl.remaining_ns()));
            ctx_.counters.timeouts.fetch_add(1, std::memory_order_relaxed);
            return failure::path(ETIME);
        }
        const bool corrupt = (p.marks() & corrupt_mark) != 0;
        auto r = inner().collect(p, payload_out, dl);
        if (corrupt && r && !r->payload.empty() && !survives_damage(payload_out.first(r->payload.size()), *r, ctx_.counters))
            return failure::path(EBADMSG);
        return r;
    }

private:
    injection_context ctx_;
};

class injecting_service final : public service_transport_layer {
    // A request dropped on its way (TIMEOUT) fails at its deadline, or when the injection is
    // cleared if that comes first: nothing will ever answer it, and a caller that waits long for
    // an answer (a home waiting for an owner's answer to a recall) must not wait out a request
    // the injection threw away. Looked at every drop_check_ns.
    static constexpr std::uint64_t drop_check_ns = 20'000'000;
    void drop(node_id dst, deadline dl, async_callback done) noexcept {
        try {
            const deadline next = dl.ns() > now_ns() + drop_check_ns ? deadline::after_ns(drop_check_ns) : dl;
            inner().exec().add_timer(next, [this, dst, dl, done = std::move(done)]() mutable {
                if (dl.expired() || ctx_.injector.active(dst) != void_reason::timeout)
                    done(failure::path(ETIME));
                else
                    drop(dst, dl, std::move(done));
            });
        } catch (const std::bad_alloc&) {
            done(failure::path(ETIME));
        }
    }

public:
    injecting_service(std::unique_ptr<service_transport> inner, injection_context ctx)
        : service_transport_layer(std::move(inner)),
          ctx_(ctx) {}

    void reply(const reply_token& to, const wire::message& m) noexcept override {
        if (ctx_.injector.loses_replies(to.requester())) return;
        inner().reply(to, m);
    }

    void call(node_id dst, const wire::message& m, deadline dl, async_callback done) noexcept override {
        const void_reason injected = ctx_.injector.active(dst);
        if (cuts_path(injected)) {
            ctx_.counters.requests.fetch_add(1, std::memory_order_relaxed);
            inner().disconnect(dst, ctx_.injector.connect_errno(dst));
            done(ctx_.cut_failure(dst));
            return;
        }
        if (injected == void_reason::timeout) {
            ctx_.counters.requests.fetch_add(1, std::memory_order_relaxed);
            drop(dst, dl, std::move(done));
            return;
        }
        if (injected == void_reason::corruption) {
            try {
                inner().call(dst, damaged_request(m).message, dl, [this, done](result<wire::message> r) {
                    if (!r || r->payload.empty()) return done(r);
                    std::vector<std::byte> arrived(r->payload.begin(), r->payload.end());
                    if (!survives_damage(arrived, *r, ctx_.counters)) return done(failure::path(EBADMSG));
                    wire::message delivered = *r;
                    delivered.payload = arrived;
                    done(delivered);
                });
            } catch (const std::bad_alloc&) {
                done(failure::path(ENOMEM));
            }
            return;
        }
        inner().call(dst, m, dl, std::move(done));
    }

    void watch(node_id dst) noexcept override {
        if (const void_reason injected = ctx_.injector.active(dst); cuts_path(injected)) {
            inner().disconnect(dst, ctx_.injector.connect_errno(dst));
            return;
        }
        inner().watch(dst);
    }

private:
    injection_context ctx_;
};

} // namespace

std::unique_ptr<request_transport> with_injection(std::unique_ptr<request_transport> inner, fault_injector& injector,
                                                  peer_table& peers, transport_counters& counters) {
    return std::make_unique<injecting_requester>(std::move(inner), injection_context{injector, peers, counters});
}

std::unique_ptr<service_transport> with_injection(std::unique_ptr<service_transport> inner, fault_injector& injector,
                                                  peer_table& peers, transport_counters& counters) {
    return std::make_unique<injecting_service>(std::move(inner), injection_context{injector, peers, counters});
}

} // namespace aether
