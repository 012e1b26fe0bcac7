// What an errno from the path to a node means, in the transport's terms.
//
// A backend reports a failure of the path as the errno behind it, and only that (failure::path):
// which VOID reason a caller sees also depends on what this node knows of the peer (did it ever
// answer? is it silent?), and that mapping is the runtime's, made once, as a failure leaves the
// transport (runtime/void_reasons.hpp). The transport reads the same errnos for its own decisions
// (suspect a peer whose process is gone, count a timeout) through this one classification, so
// that the two never disagree about what an errno is.
#pragma once
#include "aether/internal/guard.hpp"

#include <cerrno>
#include <cstdint>

namespace aether {

enum class path_error : std::uint8_t {
    none,            // 0: not a failure of the path (a peer's answer carries its own reason)
    deadline,        // ETIME: the caller's deadline passed on a connection the node's host had accepted
    no_connection,   // ETIMEDOUT, ECANCELED: no connection could be made, or kept, in time
    lost_route,      // ENETUNREACH, EHOSTUNREACH, ENETDOWN: no route to the node's host
    peer_gone,       // ECONNREFUSED, ECONNRESET, end of stream, EPIPE, ...: its host answers, its process does not
    this_node_down,  // ESHUTDOWN: this node is offline or shutting down
    protocol,        // EPROTO: the peer sent what the protocol does not allow; the connection was closed
    damaged,         // EBADMSG: a payload failed its checksum
    refused_key,     // EACCES: the peer did not prove the cluster's secret, or refused ours
    not_in_cluster,  // EINVAL: no such node in this cluster
    no_address,      // EDESTADDRREQ: no address for the node (yet)
    local_resources, // ENOMEM, EMFILE, ENFILE, ENOBUFS: this node could not make the path
};

constexpr path_error classify_path_errno(int err) noexcept {
    switch (err) {
    case 0: return path_error::none;
    case ETIME: return path_error::deadline;
    case ETIMEDOUT:
    case ECANCELED: return path_error::no_connection;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN: return path_error::lost_route;
    case ESHUTDOWN: return path_error::this_node_down;
    case EPROTO: return path_error::protocol;
    case EBADMSG: return path_error::damaged;
    case EACCES: return path_error::refused_key;
    case EINVAL: return path_error::not_in_cluster;
    case EDESTADDRREQ: return path_error::no_address;
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ENOBUFS: return path_error::local_resources;
    default: return path_error::peer_gone;
    }
}

// The peer's process is gone while its host still answers for it (or it left mid-stream).
constexpr bool peer_process_gone(int err) noexcept { return classify_path_errno(err) == path_error::peer_gone; }
// A request ran out of time, its own deadline or the connection's.
constexpr bool ran_out_of_time(int err) noexcept {
    const path_error e = classify_path_errno(err);
    return e == path_error::deadline || e == path_error::no_connection;
}

} // namespace aether
