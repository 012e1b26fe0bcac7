// `aetherctl top`: a live view of a cluster, refreshed every second until `q`.
#pragma once

#include <CLI/CLI.hpp>

namespace aetherctl {

void add_top_command(CLI::App& app, int& status);

} // namespace aetherctl
