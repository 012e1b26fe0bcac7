#include "runtime/admin/report.hpp"

#include "runtime/cache.hpp"
#include "runtime/node.hpp"
#include "runtime/admin/admin_path.hpp"
#include "runtime/runtime.hpp"
#include "runtime/void_context.hpp"

#include <cctype>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include <unistd.h>

namespace aether::admin {

namespace {

// One record: key=value pairs joined by tabs, a newline at the end.
class record {
public:
    explicit record(std::string& out)
        : out_(out) {}
    ~record() { out_ += '\n'; }
    record(const record&) = delete;
    record& operator=(const record&) = delete;

    record& put(std::string_view key, std::string_view value) {
        if (!first_) out_ += '\t';
        first_ = false;
        out_.append(key);
        out_ += '=';
        for (char c : value) out_ += (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
        return *this;
    }
    record& put(std::string_view key, std::uint64_t value) { return put(key, std::string_view(std::to_string(value))); }
    record& put_addr(std::string_view key, std::uint64_t addr) {
        char text[24];
        std::snprintf(text, sizeof text, "0x%" PRIx64, addr);
        return put(key, std::string_view(text));
    }

private:
    std::string& out_;
    bool first_ = true;
};

const char* name_of(cache_state s) {
    switch (s) {
    case cache_state::invalid: return "invalid";
    case cache_state::shared: return "shared";
    case cache_state::exclusive: return "exclusive";
    case cache_state::frozen: return "frozen";
    case cache_state::void_copy: return "void";
    }
    return "?";
}

const char* name_of(runtime::node_state s) {
    switch (s) {
    case runtime::node_state::unknown: return "unknown";
    case runtime::node_state::up: return "up";
    case runtime::node_state::suspected: return "suspected";
    case runtime::node_state::down: return "down";
    }
    return "?";
}

std::string joined(const std::vector<node_id>& nodes) {
    std::string out;
    for (node_id n : nodes) {
        if (!out.empty()) out += ',';
        out += std::to_string(n);
    }
    return out;
}

std::uint64_t ms_since(std::uint64_t then_ns) {
    const std::uint64_t now = now_ns();
    return now > then_ns ? (now - then_ns) / 1'000'000 : 0;
}

void stats(runtime& rt, std::string& out) {
    record r(out);
    r.put("node", rt.self()).put("pid", static_cast<std::uint64_t>(::getpid())).put("uptime_ms", ms_since(rt.started_ns()));
    r.put("pages_homed", rt.local_node().home_pages_in_use()).put("pages_cached", rt.local_cache().present_pages());
    r.put("faults_per_s", rt.faults_per_second());
    if (const std::string m = rt.metrics_address(); !m.empty()) r.put("metrics", m);
    rt.counters().for_each(
        [&](const char* name, std::atomic<std::uint64_t>& c) { r.put(name, c.load(std::memory_order_relaxed)); });
    for (std::size_t i = 1; i < void_reason_count; ++i) {
        const auto why = static_cast<void_reason>(i);
        std::string key = std::string("voids_") + to_string(why);
        for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        r.put(key, voids_with(why));
    }
    // Bytes per peer, for the peers this node exchanged any with.
    for (node_id n = 0; n < rt.node_count(); ++n) {
        const std::uint64_t sent = rt.peers().bytes_sent(n), received = rt.peers().bytes_received(n);
        if (sent == 0 && received == 0) continue;
        r.put("bytes_sent_to_node_" + std::to_string(n), sent).put("bytes_received_from_node_" + std::to_string(n), received);
    }
    // Each latency histogram as its count and percentiles (the upper bounds of their buckets).
    rt.counters().latency.for_each([&](const char* name, latency_histogram& h) {
        const auto s = h.read();
        const std::string base = std::string("latency_") + name;
        r.put(base + "_count", s.total);
        for (auto [suffix, q] : {std::pair{"_p50_ns", 0.5}, {"_p90_ns", 0.9}, {"_p99_ns", 0.99}, {"_p999_ns", 0.999}})
            r.put(base + suffix, s.quantile(q));
    });
}

void nodes(runtime& rt, std::string& out) {
    const peer_table& peers = rt.peers();
    for (node_id n = 0; n < rt.node_count(); ++n) {
        record r(out);
        r.put("node", n);
        const auto address = n < rt.config().peers.size() ? rt.config().peers[n] : std::string("in process");
        r.put("address", address).put("state", name_of(rt.state_of(n))).put("self", n == rt.self() ? 1 : 0);
        const std::uint64_t heard = peers.last_heard_ns(n);
        if (n != rt.self() && heard != 0) r.put("heard_ms_ago", ms_since(heard));
        if (const std::uint64_t rtt = peers.rtt_ns(n); n != rt.self() && rtt != 0) r.put("rtt_us", (rtt + 500) / 1000);
        if (n != rt.self()) r.put("bytes_sent", peers.bytes_sent(n)).put("bytes_received", peers.bytes_received(n));
    }
}

void cache_pages(runtime& rt, std::string& out) {
    std::size_t records = 0;
    rt.local_cache().for_each_present([&](std::uint64_t page) {
        if (records++ == max_records) return;
        const auto s = rt.local_cache().snapshot(page);
        if (s.state == cache_state::invalid) return; // went since the look at the bitmap
        record r(out);
        r.put_addr("addr", page).put("home", node_of(page)).put("state", name_of(s.state));
        if (s.state != cache_state::void_copy) r.put("generation", s.generation).put("epoch", s.grant_epoch);
    });
    if (records > max_records) record(out).put("truncated", 1);
}

void directory_entry(record& r, const node::page_snapshot& p) {
    r.put("state", to_string(p.state));
    if (p.owner != no_node) r.put("owner", p.owner);
    r.put("sharers", joined(p.sharers)).put("generation", p.generation).put("epoch", p.epoch).put("queued", p.queued);
}

void directory(runtime& rt, std::string& out) {
    node& home = rt.local_node();
    std::size_t records = 0;
    for (std::uint32_t i = 0; i < home.home_page_count(); ++i) {
        const auto p = home.snapshot(i);
        if (!p.valid || !p.allocated) continue;
        if (records++ == max_records) {
            record(out).put("truncated", 1);
            return;
        }
        record r(out);
        r.put_addr("addr", make_addr(rt.self(), std::uint64_t{i} * page_size));
        directory_entry(r, p);
    }
}

bool page(runtime& rt, std::string_view arg, std::string& out) {
    const auto addr = parse_address(arg);
    if (!addr) return false;
    const std::uint64_t base = page_floor(*addr);
    record r(out);
    r.put_addr("addr", base).put("node", rt.self()).put("home", node_of(base));
    const auto c = rt.local_cache().snapshot(base);
    r.put("copy", name_of(c.state));
    if (node_of(base) == rt.self()) {
        const auto p = rt.local_node().snapshot(page_index_of(base));
        r.put("allocated", p.valid && p.allocated ? 1 : 0);
        if (p.valid && p.allocated) directory_entry(r, p);
    }
    return true;
}

bool hot(runtime& rt, hot_pages& sampler, std::string_view arg, std::string& out) {
    std::size_t count = 10;
    if (!arg.empty()) {
        const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), count);
        if (ec != std::errc{} || end != arg.data() + arg.size() || count > max_hot_pages) return false;
    }
    node& home = rt.local_node();
    const auto look = sampler.take(home, count, now_ns(), rt.started_ns());
    for (const auto& p : look.pages) {
        const auto entry = home.snapshot(p.index);
        record r(out);
        r.put_addr("addr", make_addr(rt.self(), std::uint64_t{p.index} * page_size));
        r.put("changes", p.changes).put("since_ms", look.since_ms);
        if (entry.valid) directory_entry(r, entry);
    }
    return true;
}

} // namespace

std::string reporter::answer(std::string_view request) {
    std::string out = "ok\n";
    if (request == "stats") {
        stats(rt_, out);
    } else if (request == "nodes") {
        nodes(rt_, out);
    } else if (request == "cache") {
        cache_pages(rt_, out);
    } else if (request == "directory") {
        directory(rt_, out);
    } else if (request.starts_with("page ")) {
        if (!page(rt_, request.substr(5), out)) return "error not an Aether address: " + std::string(request.substr(5)) + "\n";
    } else if (request == "hot" || request.starts_with("hot ")) {
        const auto arg = request.substr(std::min<std::size_t>(request.size(), 4));
        if (!hot(rt_, hot_, arg, out))
            return "error hot takes a page count up to " + std::to_string(max_hot_pages) + ", not " +
                   std::string(arg.substr(0, 32)) + "\n";
    } else {
        std::string shown(request.substr(0, 64));
        for (char& ch : shown)
            if (ch < 0x20 || ch > 0x7e) ch = '?';
        return "error unknown request \"" + shown + "\" (stats, nodes, cache, directory, page ADDR, hot [COUNT])\n";
    }
    return out;
}

} // namespace aether::admin
