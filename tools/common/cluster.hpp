// What a local cluster's nodes are told by the tool that starts them: loopback ports, a shared
// secret, the peer list and the environment they inherit. Shared by aether-run and aether-bench.
#pragma once

#include "aether/internal/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace aether::tools {

// A TCP socket listening on a free port of 127.0.0.1 (its descriptor), its port in `port`.
setup_result<int> loopback_listener(int& port);

// The environment variable that names the descriptor of a node's listening socket, handed over
// by the tool that started it (runtime_config::listen_fd).
inline constexpr const char* listen_fd_env = "AETHER_LISTEN_FD";

// One listening TCP socket per node on a free port of 127.0.0.1, to be handed to the nodes
// (listen_fd_env). A node that gets its port already bound cannot lose it: a port chosen free,
// closed, and bound by the node later could be taken in between by any process (a connection's
// ephemeral port, another cluster's node), and the node failed to start with EADDRINUSE.
struct loopback_listeners {
    std::vector<int> fds;   // close-on-exec; the child's copy is made inheritable before exec
    std::vector<int> ports; // same order

    loopback_listeners() = default;
    loopback_listeners(loopback_listeners&&) noexcept = default;
    loopback_listeners& operator=(loopback_listeners&&) noexcept = default;
    loopback_listeners(const loopback_listeners&) = delete;
    loopback_listeners& operator=(const loopback_listeners&) = delete;
    ~loopback_listeners() { close_all(); }
    void close_all() noexcept; // the ones still here: a vector moved out takes its descriptors along
};
// On failure nothing is left open.
setup_result<loopback_listeners> open_loopback_listeners(int count);

// 16 random bytes as 32 hex digits, for AETHER_SECRET. getrandom() waits until the kernel's pool is
// initialised and needs no descriptor; /dev/urandom is the fallback where the system call is missing
// or filtered.
setup_result<std::string> random_secret();

// "127.0.0.1:P0,127.0.0.1:P1,...", for AETHER_PEERS.
std::string loopback_peers(const std::vector<int>& ports);

// This process's environment without the variables named in `names`: what the tool sets for its
// nodes itself must not also arrive from the caller.
std::vector<std::string> environment_without(const std::vector<std::string>& names);

} // namespace aether::tools
