// `aetherctl nodes | stats | cache | directory | page`: a live cluster seen through its nodes'
// admin sockets (docs/admin.md), as tables or (--json) JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace aetherctl {

// Adds the inspection subcommands; running one stores its exit status in `status` (0: every node
// asked answered; 1: one could not be asked, or said no; the reason is on stderr).
void add_inspect_commands(CLI::App& app, int& status);

} // namespace aetherctl
