// `aetherctl top`: every node's rates and latencies, refreshed every interval. Each refresh asks
// every node for its `stats` over its admin socket and shows what changed since the last one:
// faults, API calls, home requests and VOIDs per second, and the fault latency percentiles; and for
// the hottest pages it asks every node for its `hot` pages (the home pages whose directory entry
// changed most since the last look: grants, invalidation rounds, writes) and shows the busiest of
// the cluster. In a terminal it redraws the screen and quits on `q` (the terminal is put back as it
// was); otherwise it prints one frame per refresh.
#include "top_command.hpp"

#include "cluster_target.hpp"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

namespace aetherctl {
namespace {

struct top_options {
    target_options target;
    unsigned nodes = 0; // how many node sockets to look for (0: until one is missing)
    unsigned interval_ms = 1000;
    unsigned frames = 0; // stop after this many refreshes (0: until q)
    unsigned hot = 10;   // how many of the hottest pages to show
};

// The terminal in raw mode (no line buffering, no echo) while this lives.
class raw_terminal {
public:
    raw_terminal() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~raw_terminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    raw_terminal(const raw_terminal&) = delete;
    raw_terminal& operator=(const raw_terminal&) = delete;
    [[nodiscard]] bool active() const noexcept { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

std::uint64_t number(const record& r, const char* key) {
    const std::string* v = find(r, key);
    return v != nullptr && !v->empty() && v->find_first_not_of("0123456789") == std::string::npos ? std::stoull(*v) : 0;
}

std::string per_second(std::uint64_t now, std::uint64_t before, double seconds) {
    if (seconds <= 0 || now < before) return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.0f", static_cast<double>(now - before) / seconds);
    return text;
}

std::string micros(std::uint64_t ns) {
    if (ns == 0) return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.0f", static_cast<double>(ns) / 1000);
    return text;
}

// The hottest pages of the nodes that answered: each node's own, merged, busiest first.
std::vector<record> hottest_pages(const top_options& o, const std::vector<unsigned>& answered) {
    std::vector<std::pair<double, record>> pages;
    for (unsigned n : answered) {
        auto route = route_of(o.target, n, true);
        if (!route) continue;
        admin_answer a = ask(*route, "hot " + std::to_string(o.hot), 1000);
        if (!a.ok) continue;
        for (record& r : a.records) {
            const std::uint64_t since_ms = number(r, "since_ms");
            const double rate =
                since_ms > 0 ? static_cast<double>(number(r, "changes")) * 1000.0 / static_cast<double>(since_ms) : 0;
            char text[32];
            std::snprintf(text, sizeof text, "%.1f", rate);
            record row{{"page", find(r, "addr") != nullptr ? *find(r, "addr") : "?"},
                       {"home", std::to_string(n)},
                       {"changes_per_s", text}};
            for (const char* key : {"state", "owner", "sharers", "queued"})
                if (const std::string* v = find(r, key)) row.emplace_back(key, *v);
            pages.emplace_back(rate, std::move(row));
        }
    }
    std::stable_sort(pages.begin(), pages.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<record> rows;
    for (std::size_t i = 0; i < pages.size() && i < o.hot; ++i) rows.push_back(std::move(pages[i].second));
    return rows;
}

// One refresh: every node's stats, and the rows that show them against the previous refresh.
std::string frame(const top_options& o, std::map<unsigned, std::pair<record, std::chrono::steady_clock::time_point>>& last,
                  unsigned number_of_frame) {
    std::vector<record> rows;
    std::vector<unsigned> answered;
    const unsigned limit = o.nodes > 0 ? o.nodes : 16384;
    for (unsigned n = 0; n < limit; ++n) {
        auto route = route_of(o.target, n, true);
        if (!route) break;
        admin_answer a = ask(*route, "stats", 1000);
        const auto now = std::chrono::steady_clock::now();
        if (!a.ok || a.records.empty()) {
            if (o.nodes == 0 && a.error.find("no such socket") != std::string::npos) break; // past the last node
            rows.push_back(record{{"node", std::to_string(n)}, {"state", "no answer"}});
            last.erase(n);
            continue;
        }
        answered.push_back(n);
        const record& s = a.records.front();
        const auto prev = last.find(n);
        const bool have_prev = prev != last.end();
        const double dt = have_prev ? std::chrono::duration<double>(now - prev->second.second).count() : 0;
        auto rate = [&](std::initializer_list<const char*> keys) {
            if (!have_prev) return std::string("-");
            std::uint64_t a_now = 0, a_before = 0;
            for (const char* k : keys) {
                a_now += number(s, k);
                a_before += number(prev->second.first, k);
            }
            return per_second(a_now, a_before, dt);
        };
        rows.push_back(record{
            {"node", std::to_string(n)},
            {"state", "up"},
            {"faults_per_s", rate({"read_faults", "write_faults"})},
            {"api_per_s", rate({"latency_api_read_count", "latency_api_write_count"})},
            {"home_req_per_s", rate({"home_requests"})},
            {"voids_per_s", rate({"voids_timeout", "voids_unreachable", "voids_partition", "voids_node_crashed",
                                  "voids_permission", "voids_generation", "voids_corruption"})},
            {"read_fault_p50_us", micros(number(s, "latency_fault_read_remote_p50_ns"))},
            {"read_fault_p99_us", micros(number(s, "latency_fault_read_remote_p99_ns"))},
            {"write_fault_p99_us", micros(number(s, "latency_fault_write_remote_p99_ns"))},
            {"pages_cached", std::to_string(number(s, "pages_cached"))},
            {"pages_homed", std::to_string(number(s, "pages_homed"))},
        });
        last[n] = {s, now};
    }
    std::ostringstream out;
    const std::time_t t = std::time(nullptr);
    char clock[16];
    std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&t));
    out << "aether top  " << clock << "  refresh " << number_of_frame << " every " << o.interval_ms
        << " ms  (q quits; latencies: since start, bucket upper bounds)\n\n";
    if (rows.empty())
        out << "no node answers in " << where_asked(o.target) << "\n";
    else
        print_table(rows, out);
    if (o.hot > 0 && !answered.empty()) {
        const auto pages = hottest_pages(o, answered);
        out << "\nhottest pages (directory changes per second: grants, invalidation rounds, writes)\n";
        if (pages.empty())
            out << "none changed\n";
        else
            print_table(pages, out);
    }
    return out.str();
}

int run_top(const top_options& o) {
    raw_terminal term;
    std::map<unsigned, std::pair<record, std::chrono::steady_clock::time_point>> last;
    for (unsigned f = 1;; ++f) {
        const std::string text = frame(o, last, f);
        if (term.active())
            std::cout << "\x1b[H\x1b[2J" << text << std::flush; // home, clear, draw
        else
            std::cout << text << "\n" << std::flush;
        if (o.frames != 0 && f >= o.frames) return 0;
        // Wait for the next refresh, or a key.
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.interval_ms);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{STDIN_FILENO, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char key = 0;
            const ssize_t n = ::read(STDIN_FILENO, &key, 1);
            if (n == 0 && !term.active()) {
                // Standard input at its end (not a terminal): keep refreshing until the frames run out.
                ::usleep(static_cast<useconds_t>(left.count()) * 1000);
                break;
            }
            if (n == 1 && (key == 'q' || key == 'Q')) return 0;
        }
    }
}

} // namespace

void add_top_command(CLI::App& app, int& status) {
    auto o = std::make_shared<top_options>();
    auto* top = app.add_subcommand("top", "a live view of every node: rates, latencies, pages; q quits");
    add_target_options(top, o->target, false, false);
    top->add_option("--nodes", o->nodes, "how many nodes to show (default: nodes 0, 1, ... while their sockets exist)");
    top->add_option("--interval-ms", o->interval_ms, "time between refreshes (default 1000)")
        ->check(CLI::Range(100u, 3'600'000u));
    top->add_option("--frames", o->frames, "stop after this many refreshes (default: until q)");
    top->add_option("--hot", o->hot, "how many of the hottest pages to show (default 10, 0: none)")->check(CLI::Range(0u, 1000u));
    top->callback([o, &status] { status = run_top(*o); });
}

} // namespace aetherctl
