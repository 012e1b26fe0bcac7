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
    std::string socket;           // --socket: this one node
    std::string dir;              // --dir: the admin directory
    std::optional<unsigned> node; // --node
    bool json = false;            // --json
};

// Adds --socket, --dir, --node (when `with_node`) and --json (when `with_json`) to `cmd`.
void add_target_options(CLI::App* cmd, target_options& t, bool with_node, bool with_json = true);

// The admin directory: --dir, or what the nodes' own configuration says (nullopt, said on stderr,
// when there is nothing to go by).
std::optional<std::string> admin_dir(const target_options& t);

// Node `node`'s admin socket: --socket, or its socket in the admin directory.
std::optional<std::string> socket_of(const target_options& t, unsigned node);

// Records as a table: one column per key (in the order keys first appear), "-" where a record
// lacks one or its value is empty.
void print_table(const std::vector<record>& rows, std::ostream& out);

} // namespace aetherctl
