// Where a node's admin socket is (docs/admin.md): shared by the runtime, which listens there, and
// aetherctl, which finds it from the same configuration.
//
// The directory is AETHER_ADMIN_DIR when set; otherwise one per cluster under a directory only
// this user may enter: $XDG_RUNTIME_DIR/aether/<cluster> or /tmp/aether-<uid>/<cluster>. The
// cluster is AETHER_CLUSTER when set, otherwise a tag derived from the cluster secret (every node
// of a cluster has it, another cluster on the same machine does not), so two clusters of one user
// never share sockets.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aether::admin {

// The cluster's directory name from its secret: 16 hex digits of a keyed BLAKE2b hash (the
// secret itself cannot be read back from it).
std::string cluster_tag(const std::string& secret);

// The admin directory of a cluster named `cluster` (empty: use `secret`'s tag).
std::string default_dir(const std::string& cluster, const std::string& secret);

// Node `n`'s socket in `dir`.
std::string socket_path(const std::string& dir, node_id n);

// Makes `dir` and any missing parents, the ones this function creates owner-only (0700); an
// existing `dir` must belong to this user and let nobody else in; an error says which it is not.
setup_result<void> make_private_dir(const std::string& dir);

// An Aether address as the admin requests and aetherctl write it: hex, "0x" optional. nullopt
// when it is not hex or not in the window.
std::optional<std::uint64_t> parse_address(std::string_view text) noexcept;

} // namespace aether::admin
