// Where a node started by a process manager (PMIx: Open MPI's mpirun, Slurm's srun) can be
// reached, and which of a peer's addresses to dial.
//
// No node is told its address by hand there, so each one publishes the port it listens on and
// the IPv4 addresses of its interfaces (with their prefix lengths); every other node picks one.
// The rule is the one Open MPI's TCP transport follows: a peer on the same host is dialled over
// loopback; otherwise the first of its addresses that lies in a subnet of one of ours (the route
// that needs no gateway), else its first address. Pure functions apart from reading this host's
// interfaces, so the choice is tested without a process manager.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aether::launch {

struct interface_address {
    std::uint32_t ip = 0; // IPv4, host byte order
    std::uint8_t prefix = 32;
    friend bool operator==(const interface_address&, const interface_address&) = default;
};

struct endpoint {
    std::uint16_t port = 0;
    std::vector<interface_address> addresses; // in the order to prefer
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

// "7000;10.0.0.1/24,192.168.1.5/16": what a node publishes. decode is strict: any other text,
// an address list with a bad entry, or port 0 is nullopt.
std::string encode(const endpoint& e);
std::optional<endpoint> decode(std::string_view text);

// The IPv4 addresses of this host's interfaces that are up, loopback excluded.
std::vector<interface_address> local_ipv4_addresses();

// "a.b.c.d:port" to dial the peer at `peer`, as seen from a node with addresses `mine`; nullopt
// when the peer is on another host and published no address.
std::optional<std::string> dial_address(const endpoint& peer, bool same_host, const std::vector<interface_address>& mine);

} // namespace aether::launch
