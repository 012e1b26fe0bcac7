// The cluster file (AETHER_CONFIG): one TOML file naming every node, its addresses, the secret and
// the runtime settings, shared by all the nodes of a cluster.
//
// This layer only reads the file: it checks its TOML syntax and its shape (which keys exist, which
// hold tables, numbers or text) and hands every value on as text with the line it came from.
// Whether a value is good is decided in config.cpp, by the same code that judges the AETHER_*
// variables, so a setting has one set of bounds whichever way it is given.
#pragma once
#include "aether/internal/guard.hpp"
#include "aether/internal/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aether {

// A value from the file as text (a number as its digits), and where it is, for messages.
struct file_value {
    std::string text;
    std::uint32_t line = 0;
};

struct file_node {
    std::uint32_t line = 0;            // of the [[node]] header
    std::optional<file_value> id;      // optional; must be the node's position when present
    std::optional<file_value> address; // "host:port" the others dial
    std::optional<file_value> bind;    // "host:port" this node listens on, when not `address`
};

struct cluster_file {
    std::string path;
    std::optional<file_value> secret;
    std::optional<file_value> secret_file;
    std::vector<std::pair<std::string, file_value>> settings; // [settings], in file order
    std::vector<file_node> nodes;                             // [[node]], in file order: node ids

    // "<path>:<line>: " - the start of every message about a value of the file.
    [[nodiscard]] std::string at(std::uint32_t line) const { return path + ":" + std::to_string(line) + ": "; }
};

// Reads and parses `path`. An error ("<path>:<line>: what") when the file cannot be read, is not
// TOML, or has a key this version does not know (a misspelt setting must not be silently
// ignored). Never throws.
setup_result<cluster_file> read_cluster_file(const std::string& path);

// The contents of a secret file, without its line end. An error naming the file when it cannot be
// read or is empty.
setup_result<std::string> read_secret_file(const std::string& path);

} // namespace aether
