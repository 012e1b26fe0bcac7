// The client side of the admin requests a node takes over its cluster port (aetherctl --peer):
// the cluster's own handshake as wire::admin_client, proving the cluster secret (and checking the
// node proves it first), then one msg::admin request and its answer (runtime/admin/endpoint.hpp).
#pragma once

#include "admin_client.hpp"

#include <string>

namespace aetherctl {

// Asks the node listening at `address` (host:port: its cluster port). Errors name the address and
// say what went wrong: nothing listens, the node does not prove this secret (another cluster's key),
// it does not serve admin requests, or it did not answer within `timeout_ms`.
admin_answer ask_remote(const std::string& address, const std::string& secret, const std::string& request, int timeout_ms);

} // namespace aetherctl
