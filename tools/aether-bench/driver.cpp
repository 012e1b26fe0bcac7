// One figure in one placement: processes, environment, and the checks on what they report.
#include "tools/aether-bench/driver.hpp"

#include "tools/aether-bench/launcher.hpp"
#include "tools/aether-bench/node_roles.hpp"
#include "tools/common/cluster.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>

namespace aether::bench {

const char* to_string(placement p) noexcept { return p == placement::pinned ? "pinned" : "free"; }

namespace {

// The caller's environment minus what the driver sets per node or per figure; other AETHER_*
// settings (AETHER_TIMEOUT_MS, AETHER_LOG, AETHER_FAULT_SPIN_US ...) pass through on purpose.
std::vector<std::string> base_environment(const figure& f) {
    std::vector<std::string> replaced = {"AETHER_NODE_ID", "AETHER_NODE_COUNT", "AETHER_PEERS",
                                         "AETHER_SECRET",  result_fd_env,       tools::listen_fd_env};
    for (const auto& e : f.env) replaced.push_back(e.substr(0, e.find('=')));
    std::vector<std::string> env = tools::environment_without(replaced);
    env.insert(env.end(), f.env.begin(), f.env.end());
    return env;
}

std::string format_count(double v) {
    char buf[64];
    if (std::fabs(v - std::round(v)) < 1e-9)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

void append_log_tail(std::string& out, const process_outcome& p, std::size_t max_lines) {
    if (p.log.empty()) return;
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < p.log.size()) {
        std::size_t nl = p.log.find('\n', start);
        if (nl == std::string::npos) nl = p.log.size();
        lines.push_back(p.log.substr(start, nl - start));
        start = nl + 1;
    }
    std::size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
    for (std::size_t i = from; i < lines.size(); ++i) out += "    [" + p.label + "] " + lines[i] + "\n";
}

row_result failed_row(const figure& f, placement where, const std::string& why) {
    row_result r;
    r.name = f.name;
    r.family = f.family;
    r.mode = f.mode;
    r.where = where;
    r.ok = false;
    r.error = why;
    r.verified = false;
    r.floor = f.floor;
    return r;
}

std::vector<row_result> evaluate(const figure& f, placement where, const group_outcome& g, const run_context& ctx) {
    std::vector<record> rows;
    std::map<int, record> counters_of; // other nodes' counters, by node id
    std::string fails;
    for (std::size_t i = 0; i < g.processes.size(); ++i) {
        for (auto& r : decode_all(g.processes[i].results)) {
            if (r.kind == "row" && i == 0) rows.push_back(r);
            if (r.kind == "counters") {
                if (auto n = r.number("node")) counters_of[static_cast<int>(*n)] = r;
            }
            if (r.kind == "fail") fails += (fails.empty() ? "" : "; ") + ("node " + r.text("node") + ": " + r.text("error"));
        }
    }
    std::string error;
    if (g.interrupted) {
        error = "interrupted";
    } else if (g.timed_out) {
        error = "timed out after " + format_count(std::round(f.timeout_s)) + " s";
    } else if (!fails.empty()) {
        error = fails;
    } else {
        // A process that could not start is the cause; the others of its group were killed for it.
        for (const auto& p : g.processes)
            if (!p.start_error.empty()) error = p.describe();
        if (error.empty())
            for (const auto& p : g.processes)
                if (!p.succeeded()) error += (error.empty() ? "" : "; ") + p.describe();
        if (error.empty() && rows.empty()) error = "no result reported";
    }
    if (!error.empty() && !fails.empty() && error != fails) error += " (" + fails + ")";
    std::string diagnostics;
    if (!error.empty() || ctx.verbose) {
        for (const auto& p : g.processes) append_log_tail(diagnostics, p, error.empty() ? 5 : 20);
    }
    if (!error.empty()) {
        row_result r = failed_row(f, where, error);
        r.diagnostics = diagnostics;
        return {r};
    }

    std::vector<row_result> out;
    for (const auto& rec : rows) {
        row_result r;
        r.name = rec.text("name", f.name);
        r.family = f.family;
        r.mode = f.mode;
        r.where = where;
        r.ok = true;
        r.row = rec;
        r.floor = rec.text("floor", f.floor); // a row may name its own (the scale rows do)
        const double ops = rec.number("ops").value_or(0);
        if (auto h0 = rec.number("c_handoffs"); h0 && ops > 0) {
            double total = *h0;
            for (const auto& [node, c] : counters_of) total += c.number("handoffs").value_or(0);
            r.handoffs_per_op = total / ops;
        }
        for (const auto& e : f.expect) {
            if (r.name.rfind(e.row_prefix, 0) != 0) continue;
            std::optional<double> got;
            if (e.node == 0) {
                got = rec.number("c_" + e.counter);
            } else if (auto it = counters_of.find(e.node); it != counters_of.end()) {
                got = it->second.number(e.counter);
            }
            const double want = e.per_op * ops;
            std::string text = "node" + std::to_string(e.node) + "." + e.counter + "=" +
                               (got ? format_count(*got) : std::string("missing")) + " (want " + format_count(want) + ")";
            r.checks.push_back(text);
            if (!got || std::fabs(*got - want) > 0.5) {
                r.verified = false;
                r.failed_checks.push_back(text);
            }
        }
        if (auto bad = rec.number("data_errors"); bad && *bad != 0) {
            r.verified = false;
            r.failed_checks.push_back("data_errors=" + format_count(*bad));
        }
        // A readahead figure: the home's share of each batch, next to the requester's.
        if (auto batches = rec.number("batches"); batches && *batches > 0)
            for (const auto& [node, c] : counters_of)
                if (auto serve = c.number("readahead_serve_ns"); serve && *serve > 0) {
                    r.row.set("home_serve_us_per_batch", *serve / *batches / 1e3);
                    if (auto cpu = c.number("cpu_ns")) r.row.set("home_cpu_us_per_batch", *cpu / *batches / 1e3);
                }
        if (out.empty()) r.diagnostics = diagnostics;
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace

std::vector<row_result> run_figure(const figure& f, placement where, const run_context& ctx) {
    const int cpu = where == placement::pinned ? ctx.cpu : -1;
    const std::string wait = "wait_ms=" + std::to_string(static_cast<long long>(f.timeout_s * 1000));
    // The node's own alarm is a backstop for a driver that vanished; the driver acts first.
    const std::string alarm = "deadline_s=" + std::to_string(static_cast<long long>(f.timeout_s) + 30);
    std::vector<launch> group;
    tools::loopback_listeners listeners; // each process's listening socket, kept until the group ends

    if (f.nodes == 0) {
        auto bound = tools::open_loopback_listeners(1); // the client can connect at once
        if (!bound) return {failed_row(f, where, bound.error().message)};
        listeners = std::move(bound).value();
        launch client;
        client.label = "tcp client";
        client.args = {"tcp_client"};
        client.args.insert(client.args.end(), f.args.begin(), f.args.end());
        client.args.push_back("port=" + std::to_string(listeners.ports[0]));
        client.args.push_back(alarm);
        client.env = base_environment(f);
        launch server = client;
        server.label = "tcp server";
        server.args[0] = "tcp_server";
        server.inherit_listen_fd = listeners.fds[0];
        group = {client, server};
    } else {
        auto bound = tools::open_loopback_listeners(f.nodes);
        if (!bound) return {failed_row(f, where, bound.error().message)};
        listeners = std::move(bound).value();
        const std::string peers = tools::loopback_peers(listeners.ports);
        for (int n = 0; n < f.nodes; ++n) {
            launch l;
            l.label = "node " + std::to_string(n);
            l.args = {f.role};
            l.args.insert(l.args.end(), f.args.begin(), f.args.end());
            l.args.push_back(wait);
            l.args.push_back(alarm);
            l.env = base_environment(f);
            l.env.push_back("AETHER_NODE_ID=" + std::to_string(n));
            l.env.push_back("AETHER_NODE_COUNT=" + std::to_string(f.nodes));
            l.env.push_back("AETHER_PEERS=" + peers);
            l.env.push_back("AETHER_SECRET=" + ctx.secret);
            l.inherit_listen_fd = listeners.fds[static_cast<std::size_t>(n)];
            group.push_back(std::move(l));
        }
    }
    group_outcome g = run_group(group, cpu, f.timeout_s);
    listeners.close_all();
    return evaluate(f, where, g, ctx);
}

} // namespace aether::bench
