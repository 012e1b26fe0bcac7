#include "cluster_target.hpp"

#include "runtime/admin/admin_path.hpp"
#include "runtime/config.hpp"

#include <algorithm>
#include <iostream>

namespace aetherctl {

void add_target_options(CLI::App* cmd, target_options& t, bool with_node, bool with_json) {
    cmd->add_option("--socket", t.socket, "the admin socket of the node to ask (instead of --dir and --node)");
    cmd->add_option("--dir", t.dir, "the cluster's admin directory (default: from the nodes' configuration)");
    if (with_node) cmd->add_option("--node", t.node, "the node to ask (default: 0)");
    if (with_json) cmd->add_flag("--json", t.json, "print JSON instead of a table");
}

std::optional<std::string> admin_dir(const target_options& t) {
    if (!t.dir.empty()) return t.dir;
    std::string error;
    auto target = aether::admin_target_from_env(error);
    if (!target) {
        std::cerr << "aetherctl: " << error << "\n";
        return std::nullopt;
    }
    return target->dir;
}

std::optional<std::string> socket_of(const target_options& t, unsigned node) {
    if (!t.socket.empty()) return t.socket;
    auto dir = admin_dir(t);
    if (!dir) return std::nullopt;
    return aether::admin::socket_path(*dir, static_cast<aether::node_id>(node));
}

void print_table(const std::vector<record>& rows, std::ostream& out) {
    std::vector<std::string> columns;
    for (const auto& r : rows)
        for (const auto& kv : r)
            if (std::find(columns.begin(), columns.end(), kv.first) == columns.end()) columns.push_back(kv.first);
    std::vector<std::size_t> width;
    for (const auto& c : columns) width.push_back(c.size());
    for (const auto& r : rows)
        for (std::size_t i = 0; i < columns.size(); ++i)
            if (const std::string* v = find(r, columns[i])) width[i] = std::max(width[i], v->size());
    auto line = [&](auto cell) {
        std::string text_line;
        for (std::size_t i = 0; i < columns.size(); ++i) {
            std::string text = cell(i);
            if (i + 1 < columns.size()) text.resize(width[i] + 2, ' ');
            text_line += text;
        }
        out << text_line << "\n";
    };
    line([&](std::size_t i) {
        std::string h = columns[i];
        std::transform(h.begin(), h.end(), h.begin(), [](char c) { return c == '_' ? ' ' : static_cast<char>(std::toupper(c)); });
        return h;
    });
    for (const auto& r : rows)
        line([&](std::size_t i) {
            const std::string* v = find(r, columns[i]);
            return v != nullptr && !v->empty() ? *v : std::string("-");
        });
}

} // namespace aetherctl
