// The one place a failure of the path to a node is given the VOID reason its caller sees.
//
// A transport backend reports such a failure as the errno behind it (failure::path;
// transport/path_error.hpp). What that means to the caller also depends on what this node knows of
// the peer: a refused connection is NODE_CRASHED from a node that answered before and UNREACHABLE
// from one that never did (it may not have started yet); a deadline is PARTITION while the peer is
// silent. The runtime stacks this layer over the transport's two sides (with_void_reasons), so
// every failure is given its reason exactly once, as it leaves the transport, on the fault path as
// on the service thread. A failure the peer answered (its home's VOID) already has its reason and
// passes unchanged.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/result.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"

#include <memory>

namespace aether {

// What this node knows of a peer as a path to it fails.
struct peer_history {
    bool ever_answered = false; // it completed a handshake with this node (or this process started it)
    bool silent = false;        // it answered before and has said nothing for AETHER_SUSPECT_MS
};

// `f` with the status and VOID reason of its errno, if it is a path failure that has none yet;
// otherwise `f` as it is. Async-signal-safe.
[[nodiscard]] failure with_void_reason(failure f, peer_history peer) noexcept;
// The same, with what `peers` knows of `dst` now.
[[nodiscard]] failure with_void_reason(failure f, const peer_table& peers, node_id dst) noexcept;

// A backend's side with every failure it reports given its VOID reason (the runtime's stack).
std::unique_ptr<request_transport> with_void_reasons(std::unique_ptr<request_transport> inner, const peer_table& peers);
std::unique_ptr<service_transport> with_void_reasons(std::unique_ptr<service_transport> inner, const peer_table& peers);

} // namespace aether
