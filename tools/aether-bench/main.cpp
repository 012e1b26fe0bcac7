// aether-bench: measures Aether against the raw TCP floor of this machine, with nodes it starts itself.
#include "tools/aether-bench/driver.hpp"
#include "tools/aether-bench/figures.hpp"
#include "tools/aether-bench/launcher.hpp"
#include "tools/aether-bench/node_roles.hpp"
#include "tools/aether-bench/report.hpp"
#include "tools/aether-bench/timing.hpp"
#include "tools/common/cluster.hpp"

#include "aether/internal/clock.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

namespace aether::bench {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_interrupted = 130;

const char* usage_text = "usage: aether-bench [--json] [--quick] [--placement free|pinned|both] [--only NAME...] [--ops N]\n"
                         "                    [--cpu N] [--verbose] [--list]\n";

const char* help_text = "Starts Aether nodes as processes on loopback, measures each figure, prints a table.\n"
                        "\n"
                        "  --json          print the results as a JSON array on stdout (the table goes to stderr)\n"
                        "  --quick         2,000 timed operations per latency figure and smaller scans (a smoke run)\n"
                        "  --placement P   free: no affinity; pinned: every process of a figure on one CPU; both (default)\n"
                        "  --only NAME...  only these figures (a name, or a figure family such as fault_read_remote_4K);\n"
                        "                  the TCP floor an Aether figure is compared with is added when needed\n"
                        "  --ops N         timed operations per latency figure (default 20000)\n"
                        "  --cpu N         the CPU of the pinned placement (default: the highest CPU this process may use)\n"
                        "  --verbose       show the tail of every node's log, not only of failed figures\n"
                        "  --list          list the figures and exit\n"
                        "\n"
                        "How each figure is measured: docs/bench-method-notes.md.\n";

struct options {
    bool json = false;
    bool quick = false;
    bool verbose = false;
    bool list = false;
    bool help = false;
    std::vector<placement> placements = {placement::free, placement::pinned};
    std::vector<std::string> only;
    std::optional<std::size_t> ops;
    int cpu = -1;
};

std::optional<std::size_t> parse_count(const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    errno = 0;
    unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
    if (errno != 0) return std::nullopt;
    return static_cast<std::size_t>(v);
}

std::optional<options> parse(int argc, char** argv, std::string& error) {
    options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) {
                error = a + " needs a value";
                return std::nullopt;
            }
            return args[++i];
        };
        if (a == "--json") {
            o.json = true;
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--verbose") {
            o.verbose = true;
        } else if (a == "--list") {
            o.list = true;
        } else if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--placement") {
            auto v = value();
            if (!v) return std::nullopt;
            if (*v == "free")
                o.placements = {placement::free};
            else if (*v == "pinned")
                o.placements = {placement::pinned};
            else if (*v == "both")
                o.placements = {placement::free, placement::pinned};
            else {
                error = "--placement must be free, pinned or both, not \"" + *v + "\"";
                return std::nullopt;
            }
        } else if (a == "--only") {
            // Every following word up to the next option is a name; commas separate names too.
            std::size_t before = o.only.size();
            while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
                std::string list = args[++i];
                std::size_t start = 0;
                while (start <= list.size()) {
                    std::size_t comma = list.find(',', start);
                    if (comma == std::string::npos) comma = list.size();
                    if (comma > start) o.only.push_back(list.substr(start, comma - start));
                    start = comma + 1;
                }
            }
            if (o.only.size() == before) {
                error = "--only needs at least one figure name";
                return std::nullopt;
            }
        } else if (a == "--ops") {
            auto v = value();
            if (!v) return std::nullopt;
            auto n = parse_count(*v);
            if (!n || *n == 0) {
                error = "--ops must be a positive number, not \"" + *v + "\"";
                return std::nullopt;
            }
            o.ops = *n;
        } else if (a == "--cpu") {
            auto v = value();
            if (!v) return std::nullopt;
            auto n = parse_count(*v);
            if (!n || *n >= CPU_SETSIZE) {
                error = "--cpu must be a CPU number, not \"" + *v + "\"";
                return std::nullopt;
            }
            o.cpu = static_cast<int>(*n);
        } else {
            error = "unknown argument \"" + a + "\"";
            return std::nullopt;
        }
    }
    return o;
}

settings settings_for(const options& o) {
    settings s;
    if (o.quick) {
        s.ops = 2'000;
        s.stream_reps = 1;
        s.scan_bytes = std::size_t{64} << 20;
        s.resident_reps = 7;
    }
    if (o.ops) s.ops = *o.ops;
    s.warmup = std::clamp<std::size_t>(s.ops / 10, 100, 1'000);
    return s;
}

// The highest CPU this process may run on: a fixed choice, so that runs compare; --cpu overrides it.
int default_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    for (int c = CPU_SETSIZE - 1; c >= 0; --c)
        if (CPU_ISSET(c, &set)) return c;
    return 0;
}

bool cpu_allowed(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

double seconds_since(std::uint64_t start_ns) { return static_cast<double>(now_ns() - start_ns) / 1e9; }

int driver_main(int argc, char** argv) {
    std::string error;
    auto parsed = parse(argc, argv, error);
    if (!parsed) {
        std::fprintf(stderr, "aether-bench: %s\n%s", error.c_str(), usage_text);
        return exit_usage;
    }
    options& o = *parsed;
    if (o.help) {
        std::printf("%s\n%s", usage_text, help_text);
        return exit_ok;
    }
    const settings s = settings_for(o);
    const std::vector<figure> all = catalogue(s);
    if (o.list) {
        for (const auto& f : all) std::printf("%-30s %s\n", f.name.c_str(), f.family.c_str());
        return exit_ok;
    }

    // Selection: a name matches a figure or a whole family; the floors the selection is compared
    // with come along, so that every ratio printed was measured in the same run.
    std::vector<bool> selected(all.size(), o.only.empty());
    for (const auto& name : o.only) {
        if (name == "handoffs") {
            // Hand-offs are a field of every figure and a summary line, not a measurement of their own.
            continue;
        }
        bool matched = false;
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (all[i].name == name || all[i].family == name) {
                selected[i] = true;
                matched = true;
            }
        }
        if (!matched) {
            std::fprintf(stderr, "aether-bench: no figure named \"%s\" (see --list)\n", name.c_str());
            return exit_usage;
        }
    }
    if (std::none_of(selected.begin(), selected.end(), [](bool b) { return b; })) {
        for (std::size_t i = 0; i < all.size(); ++i) selected[i] = true;
    }
    // A floor may have a floor of its own (histogram_cost's figures are compared with their twins,
    // which are compared with the TCP floor): until nothing more comes along.
    for (bool added = true; added;) {
        added = false;
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (!selected[i] || all[i].floor.empty()) continue;
            for (std::size_t j = 0; j < all.size(); ++j)
                if (all[j].name == all[i].floor && !selected[j]) selected[j] = added = true;
        }
    }

    run_context ctx;
    ctx.verbose = o.verbose;
    ctx.cpu = o.cpu >= 0 ? o.cpu : default_cpu();
    if (!cpu_allowed(ctx.cpu)) {
        std::fprintf(stderr, "aether-bench: CPU %d is not one this process may run on\n", ctx.cpu);
        return exit_usage;
    }
    auto secret = tools::random_secret();
    if (!secret) {
        std::fprintf(stderr, "aether-bench: cannot make the cluster secret: %s\n", secret.error().message.c_str());
        return exit_failed;
    }
    ctx.secret = *secret;
    install_interrupt_handlers();

    const tick_clock clk = tick_clock::calibrate();
    std::FILE* table_out = o.json ? stderr : stdout;
    std::fprintf(table_out,
                 "aether-bench: %s run, %zu timed ops per latency figure after %zu warm-up ops; pinned placement on CPU %d; "
                 "timer %s (%.1f ns per reading pair)\n",
                 o.quick ? "quick" : "full", s.ops, s.warmup, ctx.cpu, clk.uses_tsc() ? "invariant TSC" : "CLOCK_MONOTONIC",
                 clk.overhead_ns());
    std::fflush(table_out);

    const std::uint64_t run_start = now_ns();
    std::vector<row_result> rows;
    bool stopped = false;
    for (placement where : o.placements) {
        for (std::size_t i = 0; i < all.size() && !stopped; ++i) {
            if (!selected[i]) continue;
            const figure& f = all[i];
            std::fprintf(stderr, "aether-bench: [%s] %s ...", to_string(where), f.name.c_str());
            std::fflush(stderr);
            const std::uint64_t t0 = now_ns();
            std::vector<row_result> got = run_figure(f, where, ctx);
            bool fine = std::all_of(got.begin(), got.end(), [](const row_result& r) { return r.ok && r.verified; });
            std::fprintf(stderr, " %.1f s %s\n%s", seconds_since(t0), fine ? "ok" : (got.front().ok ? "UNVERIFIED" : "FAILED"),
                         got.front().diagnostics.c_str());
            rows.insert(rows.end(), got.begin(), got.end());
            if (interrupted()) stopped = true;
        }
    }
    attach_floor_ratios(rows);
    std::fprintf(table_out, "\n");
    print_table(table_out, rows);
    std::fprintf(table_out, "\n");
    print_handoff_summary(table_out, rows);
    print_floor_notes(table_out, rows);
    std::fprintf(table_out, "total time %.1f s\n", seconds_since(run_start));
    if (o.json) print_json(stdout, rows);
    if (stopped) return exit_interrupted;
    bool all_fine = std::all_of(rows.begin(), rows.end(), [](const row_result& r) { return r.ok && r.verified; });
    return all_fine ? exit_ok : exit_failed;
}

} // namespace

} // namespace aether::bench

int main(int argc, char** argv) {
    // Nothing in the tool throws on purpose; an allocation failure still ends it with a message.
    try {
        if (argc >= 2 && std::strcmp(argv[1], aether::bench::node_role_flag) == 0)
            return aether::bench::run_node_role(argc - 2, argv + 2);
        return aether::bench::driver_main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aether-bench: %s\n", e.what());
        return 1;
    }
}
