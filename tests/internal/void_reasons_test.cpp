// The mapping from a failure of the path to a node (an errno, as a transport reports it) to the
// status and VOID reason the caller sees (runtime/void_reasons.hpp), for every errno class the
// transport produces and every state of this node's knowledge of the peer.
#include <catch2/catch.hpp>

#include "runtime/void_reasons.hpp"
#include "transport/path_error.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

using namespace aether;

namespace {

constexpr peer_history never{.ever_answered = false, .silent = false};
constexpr peer_history answered{.ever_answered = true, .silent = false};
constexpr peer_history silent{.ever_answered = true, .silent = true};

struct row {
    int err;
    peer_history peer;
    fetch_status status;
    void_reason reason;
};

const char* name(peer_history p) { return !p.ever_answered ? "never answered" : p.silent ? "silent" : "answered"; }

} // namespace

TEST_CASE("a path failure gets the status and VOID reason of its errno and of what is known of the peer", "[void_reasons]") {
    using fs = fetch_status;
    using vr = void_reason;
    const std::vector<row> table = {
        // Our deadline passed on a connection its host accepted: the node is there, slow or cut off.
        {ETIME, never, fs::timeout, vr::timeout},
        {ETIME, answered, fs::timeout, vr::timeout},
        {ETIME, silent, fs::unreachable, vr::partition},
        // No connection in time: a node never reached is UNREACHABLE, not slow.
        {ETIMEDOUT, never, fs::unreachable, vr::unreachable},
        {ETIMEDOUT, answered, fs::timeout, vr::timeout},
        {ETIMEDOUT, silent, fs::unreachable, vr::partition},
        {ECANCELED, never, fs::unreachable, vr::unreachable},
        {ECANCELED, answered, fs::timeout, vr::timeout},
        // No route: a partition of a node that answered before.
        {ENETUNREACH, never, fs::unreachable, vr::unreachable},
        {ENETUNREACH, answered, fs::unreachable, vr::partition},
        {EHOSTUNREACH, answered, fs::unreachable, vr::partition},
        {ENETDOWN, silent, fs::unreachable, vr::partition},
        // Its host answers for a process that is not there: crashed, if it ever was up.
        {ECONNREFUSED, never, fs::unreachable, vr::unreachable},
        {ECONNREFUSED, answered, fs::unreachable, vr::node_crashed},
        {ECONNRESET, answered, fs::unreachable, vr::node_crashed},
        {EPIPE, silent, fs::unreachable, vr::node_crashed},
        {ECONNABORTED, answered, fs::unreachable, vr::node_crashed},
        {EPERM, answered, fs::unreachable, vr::node_crashed}, // a local firewall's refusal
        // This node offline or shutting down: as if its own process were gone.
        {ESHUTDOWN, never, fs::unreachable, vr::node_crashed},
        {ESHUTDOWN, answered, fs::unreachable, vr::node_crashed},
        // A peer that broke the protocol.
        {EPROTO, never, fs::tcp_error, vr::unreachable},
        {EPROTO, answered, fs::tcp_error, vr::node_crashed},
        // Integrity, identity, membership, addresses, local resources: the same whatever the peer did.
        {EBADMSG, answered, fs::corruption, vr::corruption},
        {EBADMSG, never, fs::corruption, vr::corruption},
        {EACCES, never, fs::permission, vr::permission},
        {EACCES, answered, fs::permission, vr::permission},
        {EINVAL, never, fs::invalid_addr, vr::unreachable},
        {EDESTADDRREQ, answered, fs::unreachable, vr::unreachable},
        {ENOMEM, answered, fs::tcp_error, vr::unreachable},
        {EMFILE, never, fs::tcp_error, vr::unreachable},
        {ENFILE, answered, fs::tcp_error, vr::unreachable},
        {ENOBUFS, answered, fs::tcp_error, vr::unreachable},
    };
    for (const row& r : table) {
        INFO(std::strerror(r.err) << ", peer " << name(r.peer));
        const failure f = with_void_reason(failure::path(r.err), r.peer);
        CHECK(f.status == r.status);
        CHECK(to_string(f.reason) == std::string(to_string(r.reason)));
        CHECK(f.code == r.err); // the errno stays, for what is told to a person
        CHECK_FALSE(f.unclassified());
        CHECK(with_void_reason(f, never) == f); // given once: a second pass changes nothing
    }
}

TEST_CASE("a failure the peer answered keeps its status and reason", "[void_reasons]") {
    const failure answers[] = {
        {fetch_status::permission, void_reason::permission}, {fetch_status::generation, void_reason::generation},
        {fetch_status::remote_error, void_reason::none}, // a refusal with no VOID reason
        {fetch_status::invalid_addr, void_reason::none},     {fetch_status::corruption, void_reason::corruption},
    };
    for (const failure& a : answers)
        for (peer_history p : {never, answered, silent}) CHECK(with_void_reason(a, p) == a);
}

TEST_CASE("the transport's own reading of an errno agrees with the classes the reasons come from", "[void_reasons]") {
    CHECK(ran_out_of_time(ETIME));
    CHECK(ran_out_of_time(ETIMEDOUT));
    CHECK_FALSE(ran_out_of_time(ECONNREFUSED));
    for (int gone : {ECONNREFUSED, ECONNRESET, EPIPE, ECONNABORTED}) {
        CHECK(peer_process_gone(gone));
        CHECK(with_void_reason(failure::path(gone), answered).reason == void_reason::node_crashed);
    }
    for (int not_gone : {ETIME, ETIMEDOUT, ENETUNREACH, ESHUTDOWN, EPROTO, EBADMSG, EACCES, EINVAL, ENOMEM}) {
        INFO(std::strerror(not_gone));
        CHECK_FALSE(peer_process_gone(not_gone)); // no suspicion of a node for these
    }
}
