// Formatting of results: a fixed-width table for people, a JSON array for programs.
#include "tools/aether-bench/report.hpp"

#include <cmath>
#include <set>

namespace aether::bench {

namespace {

std::string fmt(const char* f, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string time_text(double ns) {
    if (ns < 1000) return fmt("%.1f ns", ns);
    if (ns < 100'000) return fmt("%.2f us", ns / 1000);
    if (ns < 100'000'000) return fmt("%.1f us", ns / 1000);
    return fmt("%.1f ms", ns / 1e6);
}

bool has_unit(const row_result& r) { return r.row.get("unit") != nullptr; }

std::string value_text(const row_result& r) {
    const std::string unit = r.row.text("unit");
    double v = r.row.number("value").value_or(NAN);
    if (unit == "ratio") return fmt("%.3fx", v);
    if (unit == "GB/s") return fmt("%.3f GB/s", v);
    return fmt("%.3f ", v) + unit;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
                out += buf;
            } else
                out += c;
        }
    }
    return out + "\"";
}

std::string json_number(std::optional<double> v) {
    if (!v || !std::isfinite(*v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", *v);
    return buf;
}

std::optional<double> us(const row_result& r, const char* key) {
    auto v = r.row.number(key);
    if (!v) return std::nullopt;
    return *v / 1000.0;
}

} // namespace

void attach_floor_ratios(std::vector<row_result>& rows) {
    for (auto& r : rows) {
        if (!r.ok || r.floor.empty()) continue;
        for (const auto& f : rows) {
            if (f.name != r.floor || f.where != r.where || !f.ok) continue;
            // Times divide medians; rates (a scan's GB/s against the stream's) divide values.
            const char* field = has_unit(r) && has_unit(f) ? "value" : "median_ns";
            auto num = r.row.number(field);
            auto den = f.row.number(field);
            if (num && den && *den > 0) r.ratio_to_floor = *num / *den;
        }
    }
}

void print_table(std::FILE* out, const std::vector<row_result>& rows) {
    std::fprintf(out, "%-32s %-9s %14s %14s %13s %8s %12s  %s\n", "name", "placement", "median", "p99", "ops/s", "ratio",
                 "handoffs/op", "check");
    for (const auto& r : rows) {
        std::string median = "-", p99 = "-", ops = "-", ratio = "-", hand = "-", check;
        if (r.ok) {
            if (has_unit(r)) {
                // The times behind such a figure (per scan, per page) are in the JSON output.
                median = value_text(r);
            } else {
                median = time_text(r.row.number("median_ns").value_or(NAN));
                p99 = time_text(r.row.number("p99_ns").value_or(NAN));
            }
            if (auto o = r.row.number("ops_per_s"); o && *o > 0) ops = fmt("%.0f", *o);
            if (r.ratio_to_floor) ratio = fmt("%.2fx", *r.ratio_to_floor);
            if (r.handoffs_per_op) hand = fmt("%.2f", *r.handoffs_per_op);
            check = r.verified ? "ok" : "UNVERIFIED";
        } else {
            check = "FAILED";
        }
        std::fprintf(out, "%-32s %-9s %14s %14s %13s %8s %12s  %s\n", r.name.c_str(), to_string(r.where), median.c_str(),
                     p99.c_str(), ops.c_str(), ratio.c_str(), hand.c_str(), check.c_str());
    }
    bool notes = false;
    for (const auto& r : rows) {
        if (r.ok && r.verified) continue;
        if (!notes) std::fprintf(out, "\n");
        notes = true;
        if (!r.ok)
            std::fprintf(out, "  %s (%s) failed: %s\n", r.name.c_str(), to_string(r.where), r.error.c_str());
        else
            for (const auto& c : r.failed_checks)
                std::fprintf(out, "  %s (%s) check failed: %s\n", r.name.c_str(), to_string(r.where), c.c_str());
    }
}

void print_handoff_summary(std::FILE* out, const std::vector<row_result>& rows) {
    std::set<std::string> seen;
    for (const auto& r : rows) {
        const char* where = to_string(r.where);
        if (!seen.insert(where).second) continue;
        std::string line = std::string("handoffs/op (") + where + "):";
        const std::size_t empty_size = line.size();
        for (const auto& x : rows) {
            if (x.where != r.where || !x.ok || !x.handoffs_per_op) continue;
            line += " " + x.name + "=" + fmt("%.2f", *x.handoffs_per_op);
        }
        if (line.size() == empty_size) line += " (no Aether figure measured)";
        std::fprintf(out, "%s\n", line.c_str());
    }
}

void print_floor_notes(std::FILE* out, const std::vector<row_result>& rows) {
    for (const auto& r : rows) {
        if (!r.ok || r.where != placement::free) continue;
        auto f = r.row.number("cross_cpu_fraction");
        if (!f) continue;
        std::fprintf(out, "%s (free): client and server on different CPUs for %.1f%% of round trips\n", r.name.c_str(),
                     *f * 100.0);
    }
}

void print_json(std::FILE* out, const std::vector<row_result>& rows) {
    // Fields the driver maps itself; the rest of a row's fields are passed on as reported.
    static const std::set<std::string> mapped = {"name", "median_ns", "p99_ns", "mean_ns", "ops_per_s", "ops", "unit", "value"};
    std::fprintf(out, "[\n");
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const row_result& r = rows[i];
        std::string o = "  {";
        o += "\"name\": " + json_string(r.name);
        o += ", \"figure\": " + json_string(r.family);
        if (!r.mode.empty()) o += ", \"mode\": " + json_string(r.mode);
        o += ", \"placement\": " + json_string(to_string(r.where));
        o += ", \"status\": " + json_string(r.ok ? "ok" : "failed");
        o += ", \"verified\": " + std::string(r.ok && r.verified ? "true" : "false");
        o += ", \"median_us\": " + json_number(r.ok ? us(r, "median_ns") : std::nullopt);
        o += ", \"p99_us\": " + json_number(r.ok ? us(r, "p99_ns") : std::nullopt);
        o += ", \"ops_per_s\": " + json_number(r.ok ? r.row.number("ops_per_s") : std::nullopt);
        if (r.ok) {
            o += ", \"ops\": " + json_number(r.row.number("ops"));
            if (auto m = us(r, "mean_ns")) o += ", \"mean_us\": " + json_number(m);
            if (has_unit(r)) {
                o += ", \"unit\": " + json_string(r.row.text("unit"));
                o += ", \"value\": " + json_number(r.row.number("value"));
            } else {
                o += ", \"unit\": \"us\"";
            }
        }
        o += ", \"ratio_to_floor\": " + json_number(r.ratio_to_floor);
        if (!r.floor.empty()) o += ", \"floor\": " + json_string(r.floor);
        o += ", \"handoffs_per_op\": " + json_number(r.handoffs_per_op);
        if (r.ok) {
            std::string counters;
            for (const auto& [k, v] : r.row.fields) {
                if (mapped.count(k) != 0) continue;
                std::string value = r.row.number(k) ? json_number(r.row.number(k)) : json_string(v);
                if (k.rfind("c_", 0) == 0) {
                    counters += (counters.empty() ? "" : ", ") + json_string(k.substr(2)) + ": " + value;
                    continue;
                }
                // Extra times are reported in microseconds like the main ones.
                if (k.size() > 3 && k.compare(k.size() - 3, 3, "_ns") == 0 && r.row.number(k))
                    o += ", " + json_string(k.substr(0, k.size() - 3) + "_us") + ": " + json_number(*r.row.number(k) / 1000.0);
                else
                    o += ", " + json_string(k) + ": " + value;
            }
            if (!counters.empty()) o += ", \"node0_counters\": {" + counters + "}";
            std::string checks;
            for (const auto& c : r.checks) checks += (checks.empty() ? "" : ", ") + json_string(c);
            o += ", \"checks\": [" + checks + "]";
            if (!r.failed_checks.empty()) {
                std::string failed;
                for (const auto& c : r.failed_checks) failed += (failed.empty() ? "" : ", ") + json_string(c);
                o += ", \"failed_checks\": [" + failed + "]";
            }
        } else {
            o += ", \"error\": " + json_string(r.error);
        }
        o += "}";
        std::fprintf(out, "%s%s\n", o.c_str(), i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(out, "]\n");
}

} // namespace aether::bench
