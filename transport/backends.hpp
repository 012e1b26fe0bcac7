// The transport backends compiled into this build, and the choice among them at start-up.
//
// A backend provides both sides of transport.hpp: a service_transport (with its executor) and a
// request_transport. The runtime asks for one by name (AETHER_TRANSPORT) or takes the first that
// can run on this machine ("auto", the default); a backend says why it cannot run (a kernel
// without the io_uring operations it needs, no RDMA device...). Adding a backend is one entry in
// backends.cpp; tests/unit/transport_contract_test.cpp then runs the contract against it too.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/result.hpp"
#include "aether/internal/thread_priority.hpp"
#include "transport/fault_injection.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace aether {

// What every backend is built from.
struct transport_setup {
    local_identity id;
    peer_table* peers = nullptr;
    fault_injector* injector = nullptr; // open_*: the fault-injection layer goes on top when set
    transport_counters* counters = nullptr;
    std::string name = "aether-loop"; // the service thread's name
    // After serving something, the service thread polls this long for the next event before it
    // sleeps; a requester polls this long for its reply (request_transport::set_poll_ns).
    std::uint64_t poll_ns = 0;
    thread_priority priority = thread_priority::normal; // the service thread's
};

struct transport_backend {
    std::string_view name;        // as AETHER_TRANSPORT names it
    std::string_view description; // for aetherctl and error messages
    // Probes this machine: fine when the backend can run here, otherwise why it cannot.
    setup_result<void> (*can_run)();
    std::unique_ptr<service_transport> (*make_service)(const transport_setup& setup, request_handler& handler);
    std::unique_ptr<request_transport> (*make_requester)(const transport_setup& setup);
};

// A backend's two sides with the layers every backend gets: fault injection
// (injection_layer.hpp) when setup.injector is set. What the runtime uses.
std::unique_ptr<service_transport> open_service(const transport_backend& b, const transport_setup& setup,
                                                request_handler& handler);
std::unique_ptr<request_transport> open_requester(const transport_backend& b, const transport_setup& setup);

// In order of preference.
std::span<const transport_backend> compiled_transports() noexcept;

// `wanted`: a backend's name, or "" / "auto" for the first one that can run here; an error saying
// why when there is none.
setup_result<const transport_backend*> choose_transport(std::string_view wanted);

} // namespace aether
