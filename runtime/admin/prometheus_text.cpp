#include "runtime/admin/prometheus_text.hpp"

#include "runtime/cache.hpp"
#include "runtime/node.hpp"
#include "runtime/runtime.hpp"
#include "runtime/void_context.hpp"

#include <cstdio>

namespace aether::admin {

namespace {

// Histogram buckets exported: one per power of two of nanoseconds, from about 1 us to about 17 s
// (the recorded buckets are finer; these are their boundaries at each octave's end).
constexpr unsigned first_octave = 9, last_octave = 34;

std::string seconds(std::uint64_t ns) {
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", static_cast<double>(ns) / 1e9);
    return text;
}

class exposition {
public:
    explicit exposition(node_id self)
        : node_("node=\"" + std::to_string(self) + "\"") {}

    void family(const std::string& name, const char* type, const char* help) {
        out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    }
    void sample(const std::string& name, const std::string& labels, const std::string& value) {
        out_ += name + "{" + node_ + (labels.empty() ? "" : "," + labels) + "} " + value + "\n";
    }
    void sample(const std::string& name, const std::string& labels, std::uint64_t value) {
        sample(name, labels, std::to_string(value));
    }
    // One histogram's series (the family is declared by the caller).
    void histogram(const std::string& name, const std::string& labels, const latency_histogram::snapshot& s) {
        const std::string sep = labels.empty() ? "" : labels + ",";
        std::uint64_t cumulative = 0;
        unsigned next = 0;
        for (unsigned octave = first_octave; octave <= last_octave; ++octave) {
            // The last bucket of the octave whose values have their top bit at `octave`.
            const unsigned end = latency_histogram::index_of((std::uint64_t{2} << octave) - 1);
            for (; next <= end; ++next) cumulative += s.counts[next];
            sample(name + "_bucket", sep + "le=\"" + seconds(latency_histogram::upper_bound(end)) + "\"", cumulative);
        }
        sample(name + "_bucket", sep + "le=\"+Inf\"", s.total);
        sample(name + "_sum", labels, seconds(s.sum_ns));
        sample(name + "_count", labels, s.total);
    }
    std::string take() { return std::move(out_); }

private:
    std::string node_;
    std::string out_;
};

} // namespace

std::string prometheus_text(runtime& rt) {
    exposition e(rt.self());
    node_counters& c = rt.counters();
    c.for_each([&](const char* name, std::atomic<std::uint64_t>& v) {
        std::string base = name;
        const std::uint64_t value = v.load(std::memory_order_relaxed);
        if (base.ends_with("_ns")) { // time, in the base unit Prometheus names use
            base.replace(base.size() - 3, 3, "_seconds");
            const std::string metric = "aether_" + base + "_total";
            e.family(metric, "counter", "node counter (runtime/stats.hpp)");
            e.sample(metric, "", seconds(value));
            return;
        }
        const std::string metric = "aether_" + base + "_total";
        e.family(metric, "counter", "node counter (runtime/stats.hpp)");
        e.sample(metric, "", value);
    });
    e.family("aether_voids_total", "counter", "accesses that yielded VOID, by reason");
    for (std::size_t i = 1; i < void_reason_count; ++i) {
        const auto why = static_cast<void_reason>(i);
        e.sample("aether_voids_total", std::string("reason=\"") + to_string(why) + "\"", voids_with(why));
    }
    e.family("aether_pages_homed", "gauge", "pages of this node's memory in use");
    e.sample("aether_pages_homed", "", rt.local_node().home_pages_in_use());
    e.family("aether_pages_cached", "gauge", "pages present in this node's window");
    e.sample("aether_pages_cached", "", rt.local_cache().present_pages());
    e.family("aether_uptime_seconds", "gauge", "time since this node started");
    e.sample("aether_uptime_seconds", "", seconds(now_ns() - rt.started_ns()));
    e.family("aether_peer_state", "gauge", "1 for the state this node sees each node in");
    for (node_id n = 0; n < rt.node_count(); ++n) {
        const auto s = rt.state_of(n);
        for (auto [st, label] : {std::pair{runtime::node_state::unknown, "unknown"},
                                 {runtime::node_state::up, "up"},
                                 {runtime::node_state::suspected, "suspected"},
                                 {runtime::node_state::down, "down"}})
            e.sample("aether_peer_state", "peer=\"" + std::to_string(n) + "\",state=\"" + label + "\"", s == st ? 1 : 0);
    }
    const peer_table& peers = rt.peers();
    e.family("aether_peer_sent_bytes_total", "counter", "bytes of the frames sent to each node, headers included");
    for (node_id n = 0; n < rt.node_count(); ++n)
        if (n != rt.self()) e.sample("aether_peer_sent_bytes_total", "peer=\"" + std::to_string(n) + "\"", peers.bytes_sent(n));
    e.family("aether_peer_received_bytes_total", "counter", "bytes of the frames received from each node, headers included");
    for (node_id n = 0; n < rt.node_count(); ++n)
        if (n != rt.self())
            e.sample("aether_peer_received_bytes_total", "peer=\"" + std::to_string(n) + "\"", peers.bytes_received(n));
    node_latencies& l = c.latency;
    e.family("aether_fault_duration_seconds", "histogram", "page faults, from the fault to the access going on");
    e.histogram("aether_fault_duration_seconds", "kind=\"read_remote\"", l.fault_read_remote.read());
    e.histogram("aether_fault_duration_seconds", "kind=\"write_remote\"", l.fault_write_remote.read());
    e.histogram("aether_fault_duration_seconds", "kind=\"local\"", l.fault_local.read());
    e.family("aether_api_duration_seconds", "histogram",
             "seraph_aether_read / write calls, whole (cache hits: one timed in 64, weight 64)");
    e.histogram("aether_api_duration_seconds", "op=\"read\"", l.api_read.read());
    e.histogram("aether_api_duration_seconds", "op=\"write\"", l.api_write.read());
    e.family("aether_home_request_duration_seconds", "histogram", "page requests this node's home served, arrival to reply");
    e.histogram("aether_home_request_duration_seconds", "", l.home_request.read());
    return e.take();
}

} // namespace aether::admin
