// `aetherctl probe`: what this kernel and machine offer the runtime, as a report or as JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace aetherctl {

// Adds the `probe` subcommand; running it stores its exit status in `status`
// (0 when handler mode and the TCP transport can both run, 1 otherwise).
void add_probe_command(CLI::App& app, int& status);

} // namespace aetherctl
