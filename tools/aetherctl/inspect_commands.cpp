// The inspection subcommands. Each asks one or more nodes over their admin sockets (admin_client)
// and prints what they said: a table whose columns are the records' keys, or JSON.
#include "inspect_commands.hpp"

#include "admin_client.hpp"
#include "cluster_target.hpp"
#include "aether/internal/address.hpp"
#include "json_writer.hpp"
#include "runtime/admin/admin_path.hpp"
#include "runtime/config.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aetherctl {
namespace {

bool is_number(const std::string& v) {
    return !v.empty() && v.size() <= 19 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Keys whose value is a list of node ids ("0,2", or empty).
bool is_node_list(const std::string& key) { return key == "sharers"; }

void json_record(json_writer& j, const record& r) {
    j.begin_object();
    for (const auto& [k, v] : r) {
        j.key(k);
        if (is_node_list(k)) {
            j.begin_array();
            for (std::size_t start = 0; start < v.size();) {
                std::size_t comma = v.find(',', start);
                if (comma == std::string::npos) comma = v.size();
                const std::string item = v.substr(start, comma - start);
                if (is_number(item)) j.value(std::stoull(item));
                start = comma + 1;
            }
            j.end_array();
        } else if (is_number(v))
            j.value(std::stoull(v));
        else
            j.value(v);
    }
    j.end_object();
}

void print_records(const std::vector<record>& rows, bool json) {
    if (!json) return print_table(rows, std::cout);
    json_writer j(std::cout);
    j.begin_array();
    for (const auto& r : rows) json_record(j, r);
    j.end_array();
    std::cout << "\n";
}

// Asks one node; on failure says why on stderr and returns nullopt.
std::optional<std::vector<record>> ask_node(const target_options& t, unsigned node, const std::string& request) {
    auto route = route_of(t, node);
    if (!route) return std::nullopt;
    admin_answer a = ask(*route, request);
    if (!a.ok) {
        std::cerr << "aetherctl: node " << node << ": " << a.error << "\n";
        return std::nullopt;
    }
    return a.records;
}

int run_stats(const target_options& t) {
    auto rows = ask_node(t, default_node(t), "stats");
    if (!rows || rows->empty()) return 1;
    if (t.json) {
        json_writer j(std::cout);
        json_record(j, rows->front());
        std::cout << "\n";
        return 0;
    }
    std::vector<record> vertical;
    for (const auto& [k, v] : rows->front()) vertical.push_back(record{{"counter", k}, {"value", v}});
    print_table(vertical, std::cout);
    return 0;
}

// The membership as one node sees it (the first that answers, unless --node), with each node's own
// uptime, pages and faults from its own socket where it answers.
int run_nodes(const target_options& t) {
    std::optional<std::vector<record>> members;
    unsigned asked = default_node(t);
    if (t.node || !t.socket.empty() || !t.peer.empty()) {
        members = ask_node(t, asked, "nodes");
    } else {
        std::optional<aether::admin_target> target;
        if (t.dir.empty()) {
            if (auto from_env = aether::admin_target_from_env()) target = *from_env;
        }
        const unsigned count = target && target->node_count > 0 ? target->node_count : 1024;
        for (asked = 0; asked < count && !members; ++asked) {
            auto route = route_of(t, asked);
            if (!route) return 1;
            admin_answer a = ask(*route, "nodes");
            if (a.ok) members = a.records;
        }
        if (!members) {
            std::cerr << "aetherctl: no node of the cluster answers in " << where_asked(t) << "\n";
            return 1;
        }
        --asked;
    }
    if (!members) return 1;
    for (record& r : *members) {
        const std::string* id = find(r, "node");
        if (id == nullptr || !t.socket.empty()) continue;
        auto route = route_of(t, static_cast<unsigned>(std::stoul(*id)), true);
        if (!route) continue;
        admin_answer a = ask(*route, "stats", 1000);
        if (!a.ok || a.records.empty()) continue;
        const record& s = a.records.front();
        for (const char* key : {"uptime_ms", "pages_homed", "pages_cached", "faults_per_s"})
            if (const std::string* v = find(s, key)) r.emplace_back(key, *v);
    }
    if (!t.json) std::cout << "as seen by node " << asked << "\n";
    print_records(*members, t.json);
    return 0;
}

struct cache_filters {
    std::optional<unsigned> home;
    std::string state;
};

int run_cache(const target_options& t, const cache_filters& f) {
    auto rows = ask_node(t, default_node(t), "cache");
    if (!rows) return 1;
    std::vector<record> kept;
    std::map<std::string, std::size_t> by_state;
    for (auto& r : *rows) {
        const std::string* home = find(r, "home");
        const std::string* state = find(r, "state");
        if (f.home && (home == nullptr || *home != std::to_string(*f.home))) continue;
        if (!f.state.empty() && (state == nullptr || *state != f.state)) continue;
        if (state != nullptr) ++by_state[*state];
        kept.push_back(std::move(r));
    }
    if (t.json) {
        json_writer j(std::cout);
        j.begin_object().field("count", kept.size()).key("by_state").begin_object();
        for (const auto& [s, n] : by_state) j.field(s, n);
        j.end_object().key("pages").begin_array();
        for (const auto& r : kept) json_record(j, r);
        j.end_array().end_object();
        std::cout << "\n";
        return 0;
    }
    print_table(kept, std::cout);
    std::cout << kept.size() << " pages";
    for (const auto& [s, n] : by_state) std::cout << ", " << n << " " << s;
    std::cout << "\n";
    return 0;
}

int run_directory(const target_options& t, const std::string& addr) {
    auto rows = ask_node(t, default_node(t), addr.empty() ? "directory" : "page " + addr);
    if (!rows) return 1;
    print_records(*rows, t.json);
    return 0;
}

// One address across the cluster: every node's copy of its page, and its home's entry.
int run_page(const target_options& t, const std::string& addr) {
    const auto parsed = aether::admin::parse_address(addr);
    if (!parsed) {
        std::cerr << "aetherctl: " << addr << " is not an Aether address (hex, between 0x" << std::hex << aether::window_base
                  << " and 0x" << aether::window_end << std::dec << ")\n";
        return 2;
    }
    const unsigned home = aether::node_of(*parsed);
    auto members = ask_node(t, home, "nodes");
    if (!members) return 1;
    std::vector<record> rows;
    int status = 0;
    for (const record& m : *members) {
        const std::string* id = find(m, "node");
        if (id == nullptr) continue;
        const unsigned n = static_cast<unsigned>(std::stoul(*id));
        auto route = route_of(t, n);
        if (!route) return 1;
        admin_answer got = ask(*route, "page " + addr, 1000);
        if (got.ok && !got.records.empty()) {
            rows.push_back(got.records.front());
        } else {
            rows.push_back(record{{"node", *id}, {"copy", "(no answer: " + got.error + ")"}});
            if (n == home) status = 1;
        }
    }
    print_records(rows, t.json);
    return status;
}

} // namespace

void add_inspect_commands(CLI::App& app, int& status) {
    auto t_nodes = std::make_shared<target_options>();
    auto* nodes = app.add_subcommand("nodes", "every node of the cluster: address, state, uptime, pages, faults");
    add_target_options(nodes, *t_nodes, true);
    nodes->callback([t_nodes, &status] { status = run_nodes(*t_nodes); });

    auto t_stats = std::make_shared<target_options>();
    auto* stats = app.add_subcommand("stats", "a node's counters");
    add_target_options(stats, *t_stats, true);
    stats->callback([t_stats, &status] { status = run_stats(*t_stats); });

    auto t_cache = std::make_shared<target_options>();
    auto f_cache = std::make_shared<cache_filters>();
    auto* cache = app.add_subcommand("cache", "the pages a node caches: address, home, state, generation");
    add_target_options(cache, *t_cache, true);
    cache->add_option("--home", f_cache->home, "only pages of this home node");
    cache->add_option("--state", f_cache->state, "only copies in this state")
        ->check(CLI::IsMember({"shared", "exclusive", "frozen", "void"}));
    cache->callback([t_cache, f_cache, &status] { status = run_cache(*t_cache, *f_cache); });

    auto t_dir = std::make_shared<target_options>();
    auto addr_dir = std::make_shared<std::string>();
    auto* directory = app.add_subcommand("directory", "the directory entries of the pages a node homes");
    add_target_options(directory, *t_dir, true);
    directory->add_option("--addr", *addr_dir, "only the entry of this address");
    directory->callback([t_dir, addr_dir, &status] { status = run_directory(*t_dir, *addr_dir); });

    auto t_page = std::make_shared<target_options>();
    auto addr_page = std::make_shared<std::string>();
    auto* page = app.add_subcommand("page", "one address across the cluster: its home's entry and every node's copy");
    add_target_options(page, *t_page, false);
    page->add_option("ADDR", *addr_page, "an Aether address (hex)")->required();
    page->callback([t_page, addr_page, &status] { status = run_page(*t_page, *addr_page); });
}

} // namespace aetherctl
