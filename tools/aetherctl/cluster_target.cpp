#include "cluster_target.hpp"

#include "remote_client.hpp"
#include "runtime/admin/admin_path.hpp"
#include "runtime/config.hpp"

#include <algorithm>
#include <iostream>
#include <map>

namespace aetherctl {

void add_target_options(CLI::App* cmd, target_options& t, bool with_node, bool with_json) {
    cmd->add_option("--peer", t.peer,
                    "a node's cluster address (host:port), to reach nodes on other machines over the cluster port; "
                    "needs the cluster secret (AETHER_SECRET or AETHER_CONFIG)");
    cmd->add_option("--socket", t.socket, "the admin socket of the node to ask (instead of --dir and --node)");
    cmd->add_option("--dir", t.dir, "the cluster's admin directory (default: from the nodes' configuration)");
    if (with_node) cmd->add_option("--node", t.node, "the node to ask (default: 0)");
    if (with_json) cmd->add_flag("--json", t.json, "print JSON instead of a table");
}

std::optional<std::string> admin_dir(const target_options& t) {
    if (!t.dir.empty()) return t.dir;
    auto target = aether::admin_target_from_env();
    if (!target) {
        std::cerr << "aetherctl: " << target.error().message << "\n";
        return std::nullopt;
    }
    return target->dir;
}

namespace {

// What the node at --peer says of the cluster, asked once per run.
struct peer_view {
    bool asked = false;
    bool ok = false;
    std::string secret;
    unsigned self = 0;
    std::map<unsigned, std::string> addresses;
};

const peer_view& view_from_peer(const target_options& t) {
    static peer_view v;
    if (v.asked) return v;
    v.asked = true;
    auto secret = aether::cluster_secret_from_env();
    if (!secret) {
        std::cerr << "aetherctl: --peer: " << secret.error().message << "\n";
        return v;
    }
    v.secret = *secret;
    admin_answer a = ask_remote(t.peer, v.secret, "nodes", 3000);
    if (!a.ok) {
        std::cerr << "aetherctl: " << a.error << "\n";
        return v;
    }
    for (const record& r : a.records) {
        const std::string* id = find(r, "node");
        const std::string* address = find(r, "address");
        if (id == nullptr || address == nullptr) continue;
        const auto n = static_cast<unsigned>(std::stoul(*id));
        const std::string* self = find(r, "self");
        if (self != nullptr && *self == "1") {
            v.self = n;
            v.addresses[n] = t.peer; // as the user reaches it
        } else {
            v.addresses[n] = *address;
        }
    }
    v.ok = true;
    return v;
}

} // namespace

std::optional<node_route> route_of(const target_options& t, unsigned node, bool quiet) {
    if (!t.peer.empty()) {
        const peer_view& v = view_from_peer(t);
        if (!v.ok) return std::nullopt;
        const auto it = v.addresses.find(node);
        if (it == v.addresses.end()) {
            if (!quiet) std::cerr << "aetherctl: the cluster of " << t.peer << " has no node " << node << "\n";
            return std::nullopt;
        }
        return node_route{.address = it->second, .secret = v.secret};
    }
    if (!t.socket.empty()) return node_route{.socket = t.socket};
    auto dir = admin_dir(t);
    if (!dir) return std::nullopt;
    return node_route{.socket = aether::admin::socket_path(*dir, static_cast<aether::node_id>(node))};
}

unsigned default_node(const target_options& t) {
    if (t.node) return *t.node;
    if (!t.peer.empty()) return view_from_peer(t).self;
    return 0;
}

admin_answer ask(const node_route& route, const std::string& request, int timeout_ms) {
    if (!route.address.empty()) return ask_remote(route.address, route.secret, request, timeout_ms);
    return ask(route.socket, request, timeout_ms);
}

std::string where_asked(const target_options& t) {
    if (!t.peer.empty()) return "the cluster of " + t.peer;
    if (!t.socket.empty()) return t.socket;
    return admin_dir(t).value_or("?");
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
