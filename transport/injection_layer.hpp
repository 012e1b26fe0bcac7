// Fault injection as a layer over any backend: the two sides of transport.hpp, wrapped.
//
// What seraph_aether_inject_failure asks for (fault_injection.hpp) happens on this node's path to
// the chosen node, below the runtime, so the runtime's ordinary detection code is what reports it:
//
//   TIMEOUT       a request to the node is not sent; the caller waits out its deadline.
//   PARTITION     the connections to the node are closed, and a call fails as a connect() on a
//   NODE_CRASHED  lost route (ENETUNREACH) or to a dead host (ECONNREFUSED) fails: with that errno,
//                 given its VOID reason by the runtime as a real one is; NODE_CRASHED also makes
//                 the node a suspect, as a refused connection does.
//   CORRUPTION    a request's payload is damaged after its checksum was computed, and a reply's
//                 before it is checked against the checksum it came with: the integrity check
//                 reports it (the peer refuses a damaged request; a damaged reply is CORRUPTION).
//   reply loss    (tests) replies to the node are not sent.
//
// A backend needs nothing for this beyond the contract, plus service_transport::disconnect.
#pragma once
#include "aether/internal/guard.hpp"

#include "transport/fault_injection.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"

#include <memory>

namespace aether {

std::unique_ptr<request_transport> with_injection(std::unique_ptr<request_transport> inner, fault_injector& injector,
                                                  peer_table& peers, transport_counters& counters);
std::unique_ptr<service_transport> with_injection(std::unique_ptr<service_transport> inner, fault_injector& injector,
                                                  peer_table& peers, transport_counters& counters);

} // namespace aether
