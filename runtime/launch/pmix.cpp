// The PMIx bootstrap: put this node's endpoint, fence, get everyone's.
#include "runtime/launch/pmix.hpp"

#include "aether_config.h"
#include "runtime/launch/endpoint.hpp"

#include <cstdlib>

#if AETHER_HAVE_PMIX
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pmix.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <type_traits>
#include <vector>
#endif

namespace aether::launch {

namespace {

bool env_set(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0';
}

} // namespace

bool pmix_built() noexcept { return AETHER_HAVE_PMIX != 0; }

bool under_pmix() noexcept { return env_set("PMIX_NAMESPACE") && env_set("PMIX_RANK"); }

bool use_pmix() noexcept { return under_pmix() && !env_set("AETHER_NODE_ID"); }

#if !AETHER_HAVE_PMIX

setup_result<runtime_config> config_from_pmix() {
    return setup_error{"started by a PMIx server (PMIX_RANK is set) but this Aether was built without PMIx support "
                       "(meson -Dpmix=enabled, with libpmix-dev); set AETHER_NODE_ID, AETHER_NODE_COUNT and AETHER_PEERS "
                       "instead",
                       ENOTSUP};
}

#else

namespace {

constexpr const char* endpoint_key = "aether.endpoint";
constexpr const char* secret_key = "aether.secret";

// This process's connection to its PMIx server, finalized when the process exits. PMIx counts
// initialisations, so an MPI program's own MPI_Init and MPI_Finalize keep theirs. Not earlier:
// once the count has dropped to zero a second PMIx_Init no longer gets the job's data (Open MPI
// 4.1's MPI_Init then fails, "getting local rank failed"), and the preload library joins before
// main, so before the program's MPI_Init. Not never: mpirun takes a process that exits without
// finalizing for a failed one and aborts the job.
class pmix_session {
public:
    pmix_session() {
        status_ = PMIx_Init(&self_, nullptr, 0);
        if (status_ == PMIX_SUCCESS) std::atexit([] { PMIx_Finalize(nullptr, 0); });
    }
    pmix_session(const pmix_session&) = delete;
    pmix_session& operator=(const pmix_session&) = delete;

    [[nodiscard]] pmix_status_t status() const noexcept { return status_; }
    [[nodiscard]] const pmix_proc_t& self() const noexcept { return self_; }
    [[nodiscard]] pmix_proc_t proc(pmix_rank_t rank) const noexcept {
        pmix_proc_t p;
        PMIX_PROC_LOAD(&p, self_.nspace, rank);
        return p;
    }

    // The value of `key` for `rank` (PMIX_RANK_WILDCARD: the job's), or nullopt.
    template <class T>
    std::optional<T> get(pmix_rank_t rank, const char* key) const {
        pmix_proc_t p = proc(rank);
        pmix_value_t* v = nullptr;
        if (PMIx_Get(&p, key, nullptr, 0, &v) != PMIX_SUCCESS || v == nullptr) return std::nullopt;
        std::optional<T> out;
        if constexpr (std::is_same_v<T, std::string>) {
            if (v->type == PMIX_STRING && v->data.string != nullptr) out = std::string(v->data.string);
        } else {
            if (v->type == PMIX_UINT32) out = static_cast<T>(v->data.uint32);
        }
        PMIX_VALUE_RELEASE(v);
        return out;
    }

    pmix_status_t put(const char* key, const std::string& text) {
        pmix_value_t v;
        v.type = PMIX_STRING;
        v.data.string = const_cast<char*>(text.c_str()); // PMIx_Put copies it
        return PMIx_Put(PMIX_GLOBAL, key, &v);
    }

    // Every process of the job commits what it put and waits for the others; their values are
    // then local. At most `seconds`.
    pmix_status_t exchange(int seconds) {
        if (pmix_status_t s = PMIx_Commit(); s != PMIX_SUCCESS) return s;
        pmix_proc_t all = proc(PMIX_RANK_WILDCARD);
        pmix_info_t info[2];
        bool collect = true;
        PMIX_INFO_LOAD(&info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
        PMIX_INFO_LOAD(&info[1], PMIX_TIMEOUT, &seconds, PMIX_INT);
        pmix_status_t s = PMIx_Fence(&all, 1, info, 2);
        PMIX_INFO_DESTRUCT(&info[0]);
        PMIX_INFO_DESTRUCT(&info[1]);
        return s;
    }

private:
    pmix_proc_t self_{};
    pmix_status_t status_ = PMIX_ERROR;
};

// A TCP socket listening on a port of the kernel's choosing: on loopback when every node runs on
// this host, on every interface otherwise. Returns the descriptor; `port` is its port.
setup_result<int> open_listener(bool loopback_only, std::uint16_t& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return setup_error::from_errno(errno, {"cannot create the listening socket"});
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(loopback_only ? INADDR_LOOPBACK : INADDR_ANY);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, SOMAXCONN) < 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) < 0) {
        auto error = setup_error::from_errno(errno, {"cannot listen for the other nodes"});
        ::close(fd);
        return error;
    }
    port = ntohs(a.sin_port);
    return fd;
}

std::string random_secret() {
    unsigned char bytes[32];
    randombytes_buf(bytes, sizeof bytes);
    char hex[2 * sizeof bytes + 1];
    sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
    return hex;
}

} // namespace

setup_result<runtime_config> config_from_pmix() {
    runtime_config c;
    if (auto applied = apply_optional_env(c); !applied) return applied.error();
    if (sodium_init() < 0) return setup_error{"libsodium failed to initialise"};
    pmix_session pmix;
    if (pmix.status() != PMIX_SUCCESS) return setup_error{std::string("PMIx_Init failed: ") + PMIx_Error_string(pmix.status())};
    const auto size = pmix.get<std::uint32_t>(PMIX_RANK_WILDCARD, PMIX_JOB_SIZE);
    if (!size || *size == 0 || *size > SERAPH_AETHER_MAX_NODES)
        return setup_error{"the PMIx server gives no job size between 1 and 16384 (" + (size ? std::to_string(*size) : "none") +
                           ")"};
    c.node_count = static_cast<node_id>(*size);
    c.self = static_cast<node_id>(pmix.self().rank);
    const auto local_size = pmix.get<std::uint32_t>(PMIX_RANK_WILDCARD, PMIX_LOCAL_SIZE);
    const bool one_host = local_size && *local_size == *size;

    endpoint mine;
    auto opened = open_listener(one_host, mine.port);
    if (!opened) return opened.error();
    const int listener = *opened;
    // From here the descriptor is the runtime's (runtime_config::listen_fd) or closed on failure.
    auto fail = [&](std::string why) -> setup_result<runtime_config> {
        ::close(listener);
        return setup_error{std::move(why)};
    };
    // Published, and compared with the peers' for a shared subnet; none when all is on this host.
    if (!one_host) mine.addresses = local_ipv4_addresses();
    const char* secret = std::getenv("AETHER_SECRET");
    c.secret = secret != nullptr && *secret != '\0' ? secret : "";
    if (pmix_status_t s = pmix.put(endpoint_key, encode(mine)); s != PMIX_SUCCESS)
        return fail(std::string("PMIx_Put of this node's address failed: ") + PMIx_Error_string(s));
    if (c.secret.empty() && c.self == 0) {
        c.secret = random_secret();
        if (pmix_status_t s = pmix.put(secret_key, c.secret); s != PMIX_SUCCESS)
            return fail(std::string("PMIx_Put of the cluster secret failed: ") + PMIx_Error_string(s));
    }
    const int fence_seconds = static_cast<int>(std::max<std::uint32_t>(60, c.timeout_ms / 1000));
    if (pmix_status_t s = pmix.exchange(fence_seconds); s != PMIX_SUCCESS)
        return fail(std::string("PMIx_Fence (waiting for every process of the job) failed: ") + PMIx_Error_string(s));
    if (c.secret.empty()) {
        auto shared = pmix.get<std::string>(0, secret_key);
        if (!shared || shared->empty()) return fail("rank 0 published no cluster secret through PMIx");
        c.secret = *shared;
    }

    const auto my_host = pmix.get<std::uint32_t>(pmix.self().rank, PMIX_NODEID);
    c.peers.resize(c.node_count);
    for (node_id n = 0; n < c.node_count; ++n) {
        auto text = pmix.get<std::string>(n, endpoint_key);
        auto peer = text ? decode(*text) : std::nullopt;
        if (!peer)
            return fail("rank " + std::to_string(n) + " published no usable address through PMIx (\"" + text.value_or("") +
                        "\")");
        const auto host = pmix.get<std::uint32_t>(n, PMIX_NODEID);
        const bool same_host = one_host || n == c.self || (my_host && host && *my_host == *host);
        auto dial = dial_address(*peer, same_host, mine.addresses);
        if (!dial) return fail("rank " + std::to_string(n) + " runs on another host but published no IPv4 address");
        c.peers[n] = *dial;
    }
    c.listen_fd = listener;
    return c;
}

#endif

} // namespace aether::launch
