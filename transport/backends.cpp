#include "transport/backends.hpp"

#include "transport/event_loop.hpp"
#include "transport/injection_layer.hpp"
#include "transport/sync_client.hpp"
#include "transport/uring_probe.hpp"

#include <array>

namespace aether {
namespace {

std::string tcp_unavailable() {
    std::string why;
    for (const auto& missing : missing_for_transport(probe_uring())) why += (why.empty() ? "" : "; ") + missing;
    return why;
}

std::unique_ptr<service_transport> tcp_service(const transport_setup& s, request_handler& handler) {
    return std::make_unique<event_loop>(event_loop::options{s.id, s.peers, s.counters, s.name, s.poll_ns, s.priority}, handler);
}

std::unique_ptr<request_transport> tcp_requester(const transport_setup& s) {
    auto client = std::make_unique<sync_client>(s.id, *s.peers, *s.counters);
    client->set_poll_ns(s.poll_ns);
    return client;
}

constexpr std::array backends{
    transport_backend{"tcp", "TCP over io_uring", &tcp_unavailable, &tcp_service, &tcp_requester},
};

} // namespace

std::span<const transport_backend> compiled_transports() noexcept { return backends; }

std::unique_ptr<service_transport> open_service(const transport_backend& b, const transport_setup& s, request_handler& handler) {
    auto service = b.make_service(s, handler);
    if (s.injector != nullptr) service = with_injection(std::move(service), *s.injector, *s.peers, *s.counters);
    return service;
}

std::unique_ptr<request_transport> open_requester(const transport_backend& b, const transport_setup& s) {
    auto requester = b.make_requester(s);
    if (s.injector != nullptr) requester = with_injection(std::move(requester), *s.injector, *s.peers, *s.counters);
    return requester;
}

const transport_backend* choose_transport(std::string_view wanted, std::string& why) {
    const bool any = wanted.empty() || wanted == "auto";
    std::string names;
    std::string reasons;
    for (const transport_backend& b : backends) {
        names += names.empty() ? "" : ", ";
        names += b.name;
        if (!any && b.name != wanted) continue;
        std::string no = b.unavailable();
        if (no.empty()) return &b;
        reasons += reasons.empty() ? "" : "; ";
        reasons += std::string(b.name) + ": " + no;
    }
    if (!any && reasons.empty())
        why = "no transport named \"" + std::string(wanted) + "\" in this build (it has: " + names + ")";
    else
        why = "no transport can run here: " + reasons;
    return nullptr;
}

} // namespace aether
