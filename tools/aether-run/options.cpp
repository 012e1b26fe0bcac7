// Hand-written parser for aether-run's command line.
//
// Parsed by hand rather than with CLI11 so that the launcher has no dependencies, so that "--" is the
// only way to start the program (a program argument that looks like a launcher option is never
// taken as one), and so that every usage error is reported with exit status 2.
#include "tools/aether-run/options.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace aether::run {

namespace {

std::optional<int> parse_int(std::string_view s) {
    int v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<double> parse_seconds(const std::string& s) {
    if (s.empty() || s.front() == '-' || s.front() == '+' || s.front() == ' ') return std::nullopt;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

struct pending_expect {
    int node;
    outcome expected;
};

} // namespace

std::string usage_text() {
    return "usage: aether-run -n N [--base-port P] [--timeout S] [--expect NODE=OUTCOME]... [--preload]"
           " -- PROGRAM [ARGS...]\n";
}

std::string help_text() {
    return usage_text() +
           "\n"
           "Starts N copies of PROGRAM on this machine as the nodes of one Aether cluster. Node i gets\n"
           "AETHER_NODE_ID=i, AETHER_NODE_COUNT=N, AETHER_PEERS=127.0.0.1:port,... (position = node id)\n"
           "and AETHER_SECRET (random per run unless already set). Without --base-port, node i also\n"
           "gets its port already listening, as descriptor 3 (AETHER_LISTEN_FD=3), so that no other\n"
           "process can take it first. Every line a node writes is prefixed with \"[node i] \".\n"
           "\n"
           "options:\n"
           "  -n, --nodes N            number of nodes, 1.." +
           std::to_string(max_nodes) +
           "\n"
           "  --base-port P            node i listens on P+i (default: free ports, bound now)\n"
           "  --timeout S              kill every node after S seconds, fractions allowed (default " +
           format_seconds(default_timeout_s) +
           ")\n"
           "  --expect NODE=OUTCOME    expected end of one node: an exit status (3), a signal (SIGKILL,\n"
           "                           KILL) or 'any'; repeatable (default: exit status 0)\n"
           "  --preload                run the nodes with LD_PRELOAD=libaether_preload.so (found via\n"
           "                           AETHER_PRELOAD_LIB, else the installed copy)\n"
           "  -h, --help               show this text\n"
           "\n"
           "Different programs per node: separate them with a standalone ':', one per node, e.g.\n"
           "  aether-run -n 2 -- ./writer /tmp/head : ./reader /tmp/head\n"
           "\n"
           "exit status: 0 if every node ended as expected, 1 if not or on timeout, 2 on usage errors,\n"
           "130/143 when interrupted by SIGINT/SIGTERM.\n";
}

std::string format_seconds(double s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", s);
    return buf;
}

parse_result parse_command_line(const std::vector<std::string>& args) {
    auto fail = [](std::string why) { return parse_result{std::nullopt, std::move(why)}; };

    // Scanned first so that "aether-run -n x --help" still helps instead of complaining about x.
    for (const auto& a : args) {
        if (a == "--") break;
        if (a == "-h" || a == "--help") {
            launch_options o;
            o.help = true;
            return {o, {}};
        }
    }

    launch_options o;
    std::vector<pending_expect> expects;
    bool have_nodes = false;
    bool have_separator = false;
    std::size_t i = 0;
    while (i < args.size()) {
        const std::string& arg = args[i++];
        if (arg == "--") {
            have_separator = true;
            break;
        }

        // Split "--opt=value" and "-nVALUE" so that every option accepts both spellings.
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (arg.starts_with("--")) {
            auto eq = arg.find('=');
            if (eq != std::string::npos) {
                name = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        } else if (arg.starts_with("-n") && arg.size() > 2) {
            name = "-n";
            inline_value = arg.substr(2);
        }
        auto value = [&]() -> std::optional<std::string> {
            if (inline_value) return inline_value;
            if (i < args.size() && args[i] != "--") return args[i++];
            return std::nullopt;
        };

        if (name == "-n" || name == "--nodes") {
            auto v = value();
            if (!v) return fail(name + " needs a value");
            auto n = parse_int(*v);
            if (!n || *n < 1 || *n > max_nodes)
                return fail("node count must be a number from 1 to " + std::to_string(max_nodes) + ", not '" + *v + "'");
            o.node_count = *n;
            have_nodes = true;
        } else if (name == "--base-port") {
            auto v = value();
            if (!v) return fail("--base-port needs a value");
            auto p = parse_int(*v);
            if (!p || *p < 1 || *p > 65535) return fail("base port must be a number from 1 to 65535, not '" + *v + "'");
            o.base_port = *p;
        } else if (name == "--timeout") {
            auto v = value();
            if (!v) return fail("--timeout needs a value");
            auto s = parse_seconds(*v);
            if (!s || *s <= 0 || *s > max_timeout_s)
                return fail("timeout must be a positive number of seconds, not '" + *v + "'");
            o.timeout_s = *s;
        } else if (name == "--expect") {
            auto v = value();
            if (!v) return fail("--expect needs NODE=OUTCOME");
            auto eq = v->find('=');
            if (eq == std::string::npos) return fail("--expect needs NODE=OUTCOME, not '" + *v + "'");
            auto node = parse_int(std::string_view(*v).substr(0, eq));
            if (!node || *node < 0) return fail("--expect: bad node id in '" + *v + "'");
            auto out = parse_outcome(std::string_view(*v).substr(eq + 1));
            if (!out)
                return fail("--expect: bad outcome in '" + *v +
                            "' (want an exit status 0..255, a signal name like SIGKILL, or 'any')");
            expects.push_back({*node, *out});
        } else if (name == "--preload") {
            if (inline_value) return fail("--preload takes no value");
            o.preload = true;
        } else if (name.starts_with("-")) {
            return fail("unknown option '" + arg + "'");
        } else {
            return fail("unexpected '" + arg + "': put '--' before the program");
        }
    }

    if (!have_nodes) return fail("the node count (-n N) is required");
    if (!have_separator || i >= args.size()) return fail("no program given after '--'");
    o.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    o.programs.emplace_back();
    for (const auto& a : o.command) {
        if (a == ":")
            o.programs.emplace_back();
        else
            o.programs.back().push_back(a);
    }
    for (const auto& p : o.programs)
        if (p.empty() || p.front().empty()) return fail("the program name is empty");
    if (o.programs.size() > 1 && o.programs.size() != static_cast<std::size_t>(o.node_count))
        return fail("':' separates one program per node: " + std::to_string(o.programs.size()) + " programs for " +
                    std::to_string(o.node_count) + " nodes");
    if (o.base_port && *o.base_port + o.node_count - 1 > 65535)
        return fail("base port " + std::to_string(*o.base_port) + " leaves no room for " + std::to_string(o.node_count) +
                    " nodes below 65536");

    o.expected.assign(static_cast<std::size_t>(o.node_count), outcome{});
    std::vector<bool> seen(o.expected.size(), false);
    for (const auto& e : expects) {
        if (e.node >= o.node_count)
            return fail("--expect names node " + std::to_string(e.node) + " but there are only " + std::to_string(o.node_count) +
                        " nodes");
        // Two expectations for one node is almost certainly a typo in the other node's id.
        if (seen[static_cast<std::size_t>(e.node)]) return fail("--expect given twice for node " + std::to_string(e.node));
        seen[static_cast<std::size_t>(e.node)] = true;
        o.expected[static_cast<std::size_t>(e.node)] = e.expected;
    }
    return {o, {}};
}

} // namespace aether::run
