// The catalogue of figures, in the order they run (floors first, so ratios exist when printed).
#include "tools/aether-bench/figures.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace aether::bench {

namespace {

std::string kv(const std::string& k, std::size_t v) { return k + "=" + std::to_string(v); }

// A generous bound per operation: the deadline exists to end a stuck figure, not to judge speed.
double budget_s(std::size_t operations, double us_per_op, double fixed_s = 60) {
    return fixed_s + static_cast<double>(operations) * us_per_op / 1e6;
}

} // namespace

std::vector<figure> catalogue(const settings& s) {
    std::vector<figure> out;
    const std::size_t timed_total = s.ops + s.warmup;
    auto common = [&](figure& f) {
        f.args.push_back("name=" + f.name);
        f.args.push_back(kv("ops", s.ops));
        f.args.push_back(kv("warmup", s.warmup));
    };

    for (std::size_t size : {std::size_t{64}, std::size_t{4096}}) {
        figure f;
        f.name = size == 64 ? "tcp_floor_64B" : "tcp_floor_4K";
        f.family = f.name;
        common(f);
        f.args.push_back("mode=pingpong");
        f.args.push_back(kv("size", size));
        f.timeout_s = budget_s(timed_total, 2'000);
        out.push_back(f);
    }
    {
        figure f;
        f.name = f.family = "tcp_stream_GBps";
        common(f);
        f.args.push_back("mode=stream");
        f.args.push_back(kv("bytes", s.stream_bytes));
        f.args.push_back(kv("reps", s.stream_reps));
        f.timeout_s = budget_s(s.stream_reps, 20'000'000);
        out.push_back(f);
    }
    for (std::size_t threads : {std::size_t{1}, std::size_t{3}}) {
        // Not targets: the floor of seq_scan_remote_GBps with no protocol (the stream's bytes
        // received, installed into fresh userfaultfd pages and summed; see docs/performance.md).
        figure f;
        f.name = f.family = threads == 1 ? "scan_floor_1thread_GBps" : "scan_floor_3threads_GBps";
        common(f);
        f.args.push_back("mode=stream");
        f.args.push_back("sink=scan");
        f.args.push_back(kv("threads", threads));
        f.args.push_back(kv("bytes", s.scan_bytes));
        f.args.push_back(kv("reps", s.stream_reps));
        f.timeout_s = budget_s(s.stream_reps, 20'000'000);
        out.push_back(f);
    }

    auto aether = [&](const std::string& name, const std::string& role, int nodes, const std::string& mode) {
        figure f;
        f.name = name;
        f.family = name;
        f.role = role;
        f.nodes = nodes;
        // Every Aether figure names its fault mode, so that an AETHER_FAULT_MODE in the caller's
        // environment cannot change a figure behind its label.
        f.mode = mode;
        f.env.push_back("AETHER_FAULT_MODE=" + (mode.empty() ? std::string("handler") : mode));
        common(f);
        f.timeout_s = budget_s(timed_total, 1'000);
        return f;
    };

    {
        figure f = aether("api_read_hit_64B", "api_read_hit", 2, "");
        f.expect = {{"", 0, "cache_hits", 1}, {"", 0, "remote_fetches", 0}, {"", 0, "requests", 0}};
        out.push_back(f);
    }
    // Two nodes, one request per operation: timed against the 64-byte ping-pong.
    auto against_64B = [&](const std::string& name, const std::string& role, std::vector<expectation> expect) {
        figure f = aether(name, role, 2, "");
        f.floor = "tcp_floor_64B";
        f.expect = std::move(expect);
        out.push_back(f);
    };
    against_64B("api_read_miss_64B", "api_read_miss",
                {{"", 0, "cache_misses", 1}, {"", 0, "remote_fetches", 1}, {"", 0, "requests", 1}});
    // Not targets: api_read_miss_64B taken apart (see docs/performance.md).
    against_64B("transport_ping_64B", "transport_ping", {{"", 0, "requests", 1}, {"", 0, "remote_fetches", 0}});
    against_64B("transport_fetch_4K", "transport_fetch", {{"", 0, "requests", 1}, {"", 0, "cache_misses", 0}});
    against_64B("api_write_64B", "api_write", {{"", 0, "requests", 1}, {"", 1, "invalidations_sent", 0}});
    against_64B("atomic_fetch_add_remote", "atomic_fetch_add", {{"", 0, "requests", 1}});
    for (const char* mode : {"handler", "sigbus"}) {
        const std::string m = mode;
        {
            figure f = aether("fault_read_remote_4K_" + m, "fault_read_remote", 2, m);
            f.family = "fault_read_remote_4K";
            f.floor = "tcp_floor_4K";
            f.expect = {{"", 0, "read_faults", 1}, {"", 0, "remote_fetches", 1}};
            out.push_back(f);
        }
        {
            figure f = aether("fault_write_upgrade_4K_" + m, "fault_write_upgrade", 2, m);
            f.family = "fault_write_upgrade_4K";
            f.floor = "tcp_floor_4K";
            // An upgrade of a Shared copy: one write fault, one grant from the home, no read fault.
            f.expect = {{"", 0, "write_faults", 1}, {"", 0, "remote_fetches", 1}, {"", 0, "read_faults", 0}};
            out.push_back(f);
        }
        {
            figure f = aether("fault_read_local_4K_" + m, "fault_read_local", 1, m);
            f.family = "fault_read_local_4K";
            f.floor = "tcp_floor_4K";
            f.expect = {{"", 0, "read_faults", 1}, {"", 0, "remote_fetches", 0}, {"", 0, "requests", 0}};
            out.push_back(f);
        }
    }
    {
        figure f = aether("resident_scan_ratio", "resident_scan", 1, "");
        f.args.push_back(kv("bytes", s.resident_bytes));
        f.args.push_back(kv("reps", s.resident_reps));
        // Resident means no fault at all while scanning.
        f.expect = {{"", 0, "read_faults", 0}, {"", 0, "write_faults", 0}};
        f.timeout_s = budget_s(s.resident_reps, 2'000'000);
        out.push_back(f);
    }
    {
        figure f = aether("seq_scan_remote_GBps", "seq_scan_remote", 2, "handler");
        f.floor = "tcp_stream_GBps"; // the target: at least half of it
        f.args.push_back(kv("bytes", s.scan_bytes));
        // Every page of the scan is a cold remote page, obtained once: for its own fault or read
        // ahead of another's (the row also shows how many faults the scan took).
        f.expect = {{"", 0, "pages_obtained", 1}};
        f.timeout_s = budget_s(s.scan_bytes / 4096, 3'000);
        out.push_back(f);
    }
    {
        // Not a target: the install rate that, with tcp_stream_GBps, bounds seq_scan_remote_GBps.
        figure f = aether("uffd_install_GBps", "uffd_install", 1, "");
        f.args.push_back(kv("bytes", s.scan_bytes));
        f.timeout_s = budget_s(s.scan_bytes / 4096, 100);
        out.push_back(f);
    }
    for (const std::string method : {"continue", "move"}) {
        // Not targets: the installs without a copy the kernel offers, on the same fresh pages, to
        // show whether they would beat UFFDIO_COPY here.
        figure f = aether("uffd_install_" + method + "_GBps", "uffd_install", 1, "");
        f.args.push_back(kv("bytes", s.scan_bytes));
        f.args.push_back("method=" + method);
        f.timeout_s = budget_s(s.scan_bytes / 4096, 100);
        out.push_back(f);
    }
    {
        // Not a target: the raw-TCP cost of the invalidation's message pattern among 6 processes.
        figure f = aether("tcp_fanout_4_64B", "tcp_fanout", 6, "");
        out.push_back(f);
    }
    {
        figure f = aether("invalidate_4_sharers", "invalidate_sharers", 6, "");
        f.floor = "tcp_floor_64B";
        f.expect = {{"", 1, "invalidations_sent", 4}};
        for (int sharer = 2; sharer < 6; ++sharer) {
            f.expect.push_back({"", sharer, "refetches", 1});
            f.expect.push_back({"", sharer, "invalidations_received", 1});
        }
        f.timeout_s = budget_s(timed_total, 3'000);
        out.push_back(f);
    }
    for (const std::string layout : {"pages", "one"}) {
        // Two nodes pass a token through flags homed on a third, spinning without yields.
        for (const char* mode : {"handler", "sigbus"}) {
            const std::string m = mode;
            figure f = aether(layout == "pages" ? "token_pass_round_" + m : "token_pass_round_1page_" + m, "token_pass", 3, m);
            f.family = "token_pass_round";
            f.floor = "tcp_floor_4K"; // the target: at most 8 x
            f.args.push_back("layout=" + layout);
            f.timeout_s = budget_s(timed_total, 50'000);
            out.push_back(f);
        }
    }
    for (const std::string wait : {"spin", "yield"}) {
        // A lock on cas_u64 taken in turn by one thread on each of 3 nodes; waiters spin, or yield.
        figure f = aether(wait == "spin" ? "cas_lock_acquisitions" : "cas_lock_acquisitions_yield", "cas_lock", 3, "");
        f.family = "cas_lock_acquisitions";
        f.args.push_back("wait=" + wait);
        f.timeout_s = budget_s(timed_total, 20'000);
        out.push_back(f);
    }
    {
        figure f = aether("scale", "scale", 1, "");
        f.env.push_back("AETHER_HOME_SIZE=4G");
        f.args.push_back(kv("small_pages", s.scale_small_pages));
        f.args.push_back(kv("large_pages", s.scale_large_pages));
        f.expect = {{"scale_dir_", 0, "requests", 0},
                    {"scale_dir_", 0, "remote_fetches", 0},
                    {"scale_read_hit_", 0, "cache_hits", 1},
                    {"scale_read_hit_", 0, "cache_misses", 0},
                    {"scale_read_hit_", 0, "requests", 0}};
        f.timeout_s = budget_s(s.scale_large_pages, 100, 120) + budget_s(6 * timed_total, 1'000, 0);
        out.push_back(f);
    }
    // What recording latency histograms costs (docs/admin.md): the API and fault figures again with
    // AETHER_LATENCY_HISTOGRAMS=off, each run right after its twin and compared with it, so the
    // ratio is off / on: 0.98x means recording adds 2 %.
    // A cache hit is where recording weighs most: its clock readings are a large part of it.
    for (const char* twin : {"api_read_hit_64B", "api_read_miss_64B", "fault_read_remote_4K_handler",
                             "fault_read_remote_4K_sigbus", "fault_write_upgrade_4K_handler", "fault_read_local_4K_sigbus"}) {
        const auto at = std::find_if(out.begin(), out.end(), [&](const figure& f) { return f.name == twin; });
        if (at == out.end()) continue;
        figure off = *at;
        off.name = std::string(twin) + "_hist_off";
        off.family = "histogram_cost";
        off.floor = twin;
        for (auto& arg : off.args)
            if (arg.rfind("name=", 0) == 0) arg = "name=" + off.name;
        off.env.push_back("AETHER_LATENCY_HISTOGRAMS=off");
        out.insert(at + 1, off);
    }
    return out;
}

} // namespace aether::bench
