#include "runtime/void_reasons.hpp"

#include "transport/path_error.hpp"

#include <cerrno>
#include <new>
#include <utility>

namespace aether {

failure with_void_reason(failure f, peer_history peer) noexcept {
    if (!f.unclassified()) return f;
    const void_reason gone = peer.ever_answered ? void_reason::node_crashed : void_reason::unreachable;
    const void_reason slow = peer.silent ? void_reason::partition : void_reason::timeout;
    void_reason r = void_reason::unreachable;
    switch (classify_path_errno(f.code)) {
    case path_error::none: return f;
    case path_error::deadline: r = slow; break; // its host accepted: the node is there, late or cut off
    case path_error::no_connection: r = peer.ever_answered ? slow : void_reason::unreachable; break;
    case path_error::lost_route: r = peer.ever_answered ? void_reason::partition : void_reason::unreachable; break;
    case path_error::peer_gone: r = gone; break;
    case path_error::this_node_down: r = void_reason::node_crashed; break; // as if this node's process were gone
    case path_error::protocol: return {fetch_status::tcp_error, gone, f.code};
    case path_error::damaged: r = void_reason::corruption; break;
    case path_error::refused_key: return {fetch_status::permission, void_reason::permission, f.code};
    case path_error::not_in_cluster: return {fetch_status::invalid_addr, void_reason::unreachable, f.code};
    case path_error::no_address: r = void_reason::unreachable; break;
    case path_error::local_resources: return {fetch_status::tcp_error, void_reason::unreachable, f.code};
    }
    failure mapped = failure::of(r);
    mapped.code = f.code;
    return mapped;
}

failure with_void_reason(failure f, const peer_table& peers, node_id dst) noexcept {
    if (!f.unclassified()) return f;
    return with_void_reason(f, peer_history{peers.ever_alive(dst), peers.is_silent(dst)});
}

namespace {

class reasoned_requester final : public request_transport_layer {
public:
    reasoned_requester(std::unique_ptr<request_transport> inner, const peer_table& peers)
        : request_transport_layer(std::move(inner)),
          peers_(peers) {}

    result<pending_call> start(node_id dst, const wire::message& m, deadline dl) noexcept override {
        auto p = inner().start(dst, m, dl);
        if (!p) return with_void_reason(p.error(), peers_, dst);
        return p;
    }
    result<wire::message> collect(pending_call& p, std::span<std::byte> payload_out, deadline dl) noexcept override {
        const node_id dst = p.destination(); // the call is spent afterwards
        auto r = inner().collect(p, payload_out, dl);
        if (!r) return with_void_reason(r.error(), peers_, dst);
        return r;
    }

private:
    const peer_table& peers_;
};

class reasoned_service final : public service_transport_layer {
public:
    reasoned_service(std::unique_ptr<service_transport> inner, const peer_table& peers)
        : service_transport_layer(std::move(inner)),
          peers_(peers) {}

    void call(node_id dst, const wire::message& m, deadline dl, async_callback done) noexcept override {
        auto give_reason = [&peers = peers_, dst, done = std::move(done)](result<wire::message> r) {
            if (!r) return done(with_void_reason(r.error(), peers, dst));
            done(std::move(r));
        };
        async_callback reasoned;
        try {
            reasoned = std::move(give_reason); // allocates; `give_reason` keeps `done` if that fails
        } catch (const std::bad_alloc&) {
            return give_reason(failure::path(ENOMEM));
        }
        inner().call(dst, m, dl, std::move(reasoned));
    }

private:
    const peer_table& peers_;
};

} // namespace

std::unique_ptr<request_transport> with_void_reasons(std::unique_ptr<request_transport> inner, const peer_table& peers) {
    return std::make_unique<reasoned_requester>(std::move(inner), peers);
}

std::unique_ptr<service_transport> with_void_reasons(std::unique_ptr<service_transport> inner, const peer_table& peers) {
    return std::make_unique<reasoned_service>(std::move(inner), peers);
}

} // namespace aether
