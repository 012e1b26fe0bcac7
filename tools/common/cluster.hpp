// What a local cluster's nodes are told by the tool that starts them: loopback ports, a shared
// secret, the peer list and the environment they inherit. Shared by aether-run and aether-bench.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace aether::tools {

// A TCP socket bound to a free port on 127.0.0.1 (listening if `listening`), its port in `port`;
// -1 with `error` saying why on failure.
int loopback_socket(bool listening, int& port, std::string& error);

// `count` distinct ports on 127.0.0.1 that were free a moment ago. All sockets stay bound until
// every port is known, so the kernel cannot hand out one port twice. Another process can still take
// a port between our close() and the node's bind(); that window is inherent in choosing ports for
// someone else. On failure: nullopt and `error` says why.
std::optional<std::vector<int>> choose_free_ports(int count, std::string& error);

// 16 random bytes as 32 hex digits, for AETHER_SECRET. getrandom() waits until the kernel's pool is
// initialised and needs no descriptor; /dev/urandom is the fallback where the system call is missing
// or filtered. On failure: nullopt and `error` says why.
std::optional<std::string> random_secret(std::string& error);

// "127.0.0.1:P0,127.0.0.1:P1,...", for AETHER_PEERS.
std::string loopback_peers(const std::vector<int>& ports);

// This process's environment without the variables named in `names`: what the tool sets for its
// nodes itself must not also arrive from the caller.
std::vector<std::string> environment_without(const std::vector<std::string>& names);

} // namespace aether::tools
