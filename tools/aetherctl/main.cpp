// aetherctl: inspection CLI for an Aether installation; each job is a subcommand.
#include "aether_config.h"
#include "inspect_commands.hpp"
#include "probe_command.hpp"
#include "top_command.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

int run(int argc, char** argv) {
    CLI::App app{"aetherctl: inspect an Aether cluster, its installation and the machine it runs on"};
    app.name("aetherctl");
    app.set_version_flag("--version", "aetherctl " AETHER_VERSION);
    // One subcommand per run. At most one is enforced by CLI11, so an unknown word is reported as
    // such ("not expected") rather than as "a subcommand is required".
    app.require_subcommand(0, 1);

    int status = 0;
    aetherctl::add_probe_command(app, status);
    aetherctl::add_inspect_commands(app, status);
    aetherctl::add_top_command(app, status);

    CLI11_PARSE(app, argc, argv);
    if (app.get_subcommands().empty()) {
        std::cerr << app.help() << "A subcommand is required.\n";
        return 2;
    }
    return status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) { // out of memory, an I/O error of the output streams
        std::cerr << "aetherctl: " << e.what() << "\n";
        return 1;
    }
}
