#include "transport/backends.hpp"

#include "transport/event_loop.hpp"
#include "transport/injection_layer.hpp"
#include "transport/sync_client.hpp"
#include "transport/uring_probe.hpp"

#include <array>

namespace aether {
namespace {

setup_result<void> tcp_can_run() {
    std::string why;
    for (const auto& missing : missing_for_transport(probe_uring())) why += (why.empty() ? "" : "; ") + missing;
    if (why.empty()) return {};
    return setup_error{why, ENOTSUP};
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
    transport_backend{"tcp", "TCP over io_uring", &tcp_can_run, &tcp_service, &tcp_requester},
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

setup_result<const transport_backend*> choose_transport(std::string_view wanted) {
    const bool any = wanted.empty() || wanted == "auto";
    std::string names;
    std::string reasons;
    for (const transport_backend& b : backends) {
        names += names.empty() ? "" : ", ";
        names += b.name;
        if (!any && b.name != wanted) continue;
        auto runs = b.can_run();
        if (runs) return &b;
        reasons += reasons.empty() ? "" : "; ";
        reasons += std::string(b.name) + ": " + runs.error().message;
    }
    if (!any && reasons.empty())
        return setup_error{"no transport named \"" + std::string(wanted) + "\" in this build (it has: " + names + ")", ENOENT};
    return setup_error{"no transport can run here: " + reasons, ENOTSUP};
}

} // namespace aether
