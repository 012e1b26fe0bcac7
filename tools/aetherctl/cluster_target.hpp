// Where aetherctl finds the nodes it asks (the options every command that asks nodes takes), and
// the table it prints their records in.
#pragma once

#include "admin_client.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace aetherctl {

struct target_options {
    std::string peer;             // --peer: a node's cluster port (host:port), for nodes on other machines
    std::string socket;           // --socket: this one node
    std::string dir;              // --dir: the admin directory
    std::optional<unsigned> node; // --node
    bool json = false;            // --json
};

// Adds --peer, --socket, --dir, --node (when `with_node`) and --json (when `with_json`) to `cmd`.
void add_target_options(CLI::App* cmd, target_options& t, bool with_node, bool with_json = true);

// The admin directory: --dir, or what the nodes' own configuration says (nullopt, said on stderr,
// when there is nothing to go by).
std::optional<std::string> admin_dir(const target_options& t);

// How to reach one node: its admin socket, or (--peer) its cluster port with the cluster secret.
struct node_route {
    std::string socket;
    std::string address;
    std::string secret;
};

// Node `node`: --socket, or its socket in the admin directory; with --peer, the address the node
// at --peer lists for it (--peer itself for that node). Nullopt when there is no way to it (said
// on stderr unless `quiet`).
std::optional<node_route> route_of(const target_options& t, unsigned node, bool quiet = false);

// The node a command asks when it asks one: --node, else the one at --peer, else node 0.
unsigned default_node(const target_options& t);

// Asks the node at `route` (admin_client.hpp, remote_client.hpp).
admin_answer ask(const node_route& route, const std::string& request, int timeout_ms = 3000);

// Where aetherctl looks for the cluster, for messages: --peer, or the admin directory.
std::string where_asked(const target_options& t);

// Records as a table: one column per key (in the order keys first appear), "-" where a record
// lacks one or its value is empty.
void print_table(const std::vector<record>& rows, std::ostream& out);

} // namespace aetherctl
