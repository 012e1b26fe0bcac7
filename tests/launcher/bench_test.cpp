// End-to-end tests of the built aether-bench binary, as the README runs it: real node processes on
// loopback, the table on stderr, the JSON array on stdout. Quick runs of a few figures: this checks
// what the tool reports and that its own checks pass, not how fast anything is.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "tool_process.hpp"

#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace aether::test;

std::string aether_bench_path() { return tool_path("AETHER_BENCH"); }

run_result run_bench(const std::vector<std::string>& args, double limit_s) {
    tool_process bench(aether_bench_path(), args);
    return bench.finish(limit_s);
}

// One row of the --json output (the tool prints one object per line).
struct json_row {
    std::string line;
    std::optional<std::string> text(const std::string& key) const {
        std::smatch m;
        if (std::regex_search(line, m, std::regex("\"" + key + "\": \"([^\"]*)\""))) return m[1].str();
        return std::nullopt;
    }
    std::optional<double> number(const std::string& key) const {
        std::smatch m;
        if (std::regex_search(line, m, std::regex("\"" + key + "\": (-?[0-9][0-9.eE+-]*)"))) return std::stod(m[1].str());
        return std::nullopt;
    }
    bool is(const std::string& key, const std::string& literal) const {
        return line.find("\"" + key + "\": " + literal) != std::string::npos;
    }
};

std::vector<json_row> json_rows(const std::string& out) {
    std::vector<json_row> rows;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (line.find("{\"name\": ") != std::string::npos) rows.push_back(json_row{line});
    return rows;
}

} // namespace

TEST_CASE("aether-bench lists every figure the benchmark must report", "[bench]") {
    run_result r = run_bench({"--list"}, 20);
    REQUIRE(r.exit_code == 0);
    for (const char* name : {"tcp_floor_64B",
                             "tcp_floor_4K",
                             "tcp_stream_GBps",
                             "api_read_hit_64B",
                             "api_read_miss_64B",
                             "api_write_64B",
                             "fault_read_remote_4K_handler",
                             "fault_read_remote_4K_sigbus",
                             "fault_write_upgrade_4K_handler",
                             "fault_write_upgrade_4K_sigbus",
                             "fault_read_local_4K_handler",
                             "fault_read_local_4K_sigbus",
                             "resident_scan_ratio",
                             "seq_scan_remote_GBps",
                             "invalidate_4_sharers",
                             "atomic_fetch_add_remote",
                             "scale",
                             "token_pass_round_handler",
                             "token_pass_round_sigbus",
                             "token_pass_round_1page_handler",
                             "token_pass_round_1page_sigbus",
                             "cas_lock_acquisitions",
                             "cas_lock_acquisitions_yield"}) {
        INFO(name);
        CHECK(std::regex_search(r.out, std::regex(std::string("(^|\n)") + name + " ")));
    }
}

TEST_CASE("a quick run reports every figure asked for in both placements, as a table and as JSON", "[bench]") {
    const std::vector<std::string> figures = {"api_read_hit_64B", "api_read_miss_64B", "fault_read_remote_4K",
                                              "seq_scan_remote_GBps", "invalidate_4_sharers"};
    std::vector<std::string> args = {"--quick", "--placement", "both", "--json", "--only"};
    args.insert(args.end(), figures.begin(), figures.end());
    run_result r = run_bench(args, 240);
    INFO("stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);

    std::map<std::pair<std::string, std::string>, json_row> by_name;
    for (const json_row& row : json_rows(r.out)) {
        auto name = row.text("name"), where = row.text("placement");
        REQUIRE(name.has_value());
        REQUIRE(where.has_value());
        by_name.emplace(std::make_pair(*name, *where), row);
    }
    const std::set<std::string> latency = {"tcp_floor_64B",
                                           "tcp_floor_4K",
                                           "api_read_hit_64B",
                                           "api_read_miss_64B",
                                           "fault_read_remote_4K_handler",
                                           "fault_read_remote_4K_sigbus",
                                           "invalidate_4_sharers"};
    for (const std::string where : {"free", "pinned"}) {
        // The floors the ratios divide by come along without being asked for.
        for (const std::string name :
             {"tcp_floor_64B", "tcp_floor_4K", "tcp_stream_GBps", "api_read_hit_64B", "api_read_miss_64B",
              "fault_read_remote_4K_handler", "fault_read_remote_4K_sigbus", "seq_scan_remote_GBps", "invalidate_4_sharers"}) {
            INFO(name << " " << where);
            auto it = by_name.find({name, where});
            REQUIRE(it != by_name.end());
            const json_row& row = it->second;
            CHECK(row.is("status", "\"ok\""));
            CHECK(row.is("verified", "true")); // the figure's own checks: counters and data
            for (const char* key : {"median_us", "p99_us", "ops_per_s"}) CHECK(row.number(key).has_value());
            if (latency.count(name) != 0) {
                CHECK(*row.number("median_us") > 0);
                CHECK(*row.number("p99_us") >= *row.number("median_us"));
                CHECK(*row.number("ops_per_s") > 0);
                CHECK(*row.number("ops") >= 2000);
            }
            // It is in the table too.
            CHECK(std::regex_search(r.err, std::regex("(^|\n)" + name + " +" + where + " ")));
        }
        // Thread hand-offs are the runtime's own count: two per fault through the handler thread,
        // none in SIGBUS mode or on an API miss.
        CHECK(by_name.at({"fault_read_remote_4K_handler", where}).number("handoffs_per_op") == 2.0);
        CHECK(by_name.at({"fault_read_remote_4K_sigbus", where}).number("handoffs_per_op") == 0.0);
        CHECK(by_name.at({"api_read_miss_64B", where}).number("handoffs_per_op") == 0.0);
        // A miss is compared with the 64-byte ping-pong of the same placement.
        CHECK(by_name.at({"api_read_miss_64B", where}).number("ratio_to_floor").value_or(0) > 0);
        // A scan is compared with the raw stream (its target is at least half of it).
        const json_row& scan = by_name.at({"seq_scan_remote_GBps", where});
        const double stream = by_name.at({"tcp_stream_GBps", where}).number("value").value_or(0);
        REQUIRE(stream > 0);
        CHECK(scan.number("ratio_to_floor").value_or(-1) == Approx(scan.number("value").value_or(0) / stream));
    }
}

// The rows of a --json run, by name (one placement).
std::map<std::string, json_row> rows_by_name(const std::string& out) {
    std::map<std::string, json_row> rows;
    for (const json_row& row : json_rows(out))
        if (auto name = row.text("name")) rows.emplace(*name, row);
    return rows;
}

TEST_CASE("without --quick a latency figure times at least 20,000 operations after its warm-up", "[bench]") {
    run_result r = run_bench({"--placement", "free", "--json", "--only", "api_read_miss_64B"}, 240);
    INFO("stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = rows_by_name(r.out);
    for (const char* name : {"tcp_floor_64B", "api_read_miss_64B"}) {
        INFO(name);
        REQUIRE(rows.count(name) == 1);
        CHECK(rows.at(name).is("verified", "true"));
        CHECK(rows.at(name).number("ops").value_or(0) >= 20000);
    }
}

TEST_CASE("a histogram_cost figure is compared with its twin recorded in the same run, and brings the twin's floor", "[bench]") {
    run_result r = run_bench({"--quick", "--placement", "pinned", "--json", "--only", "api_read_miss_64B_hist_off"}, 240);
    INFO("stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = rows_by_name(r.out);
    for (const char* name : {"tcp_floor_64B", "api_read_miss_64B", "api_read_miss_64B_hist_off"}) {
        INFO(name);
        REQUIRE(rows.count(name) == 1);
        CHECK(rows.at(name).is("verified", "true"));
    }
    const json_row& off = rows.at("api_read_miss_64B_hist_off");
    CHECK(off.is("figure", "\"histogram_cost\""));
    CHECK(off.is("floor", "\"api_read_miss_64B\""));
    const double on_us = rows.at("api_read_miss_64B").number("median_us").value_or(0);
    REQUIRE(on_us > 0);
    CHECK(off.number("ratio_to_floor").value_or(-1) == Approx(off.number("median_us").value_or(0) / on_us).epsilon(0.01));
}

TEST_CASE("the scale figure reports 1 K and 1 M pages in use and the metadata per cached page", "[bench]") {
    run_result r = run_bench({"--quick", "--placement", "free", "--json", "--only", "scale"}, 240);
    INFO("stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = rows_by_name(r.out);
    for (const char* name :
         {"scale_dir_lookup_1K", "scale_dir_fetch_add_1K", "scale_read_hit_1K", "scale_dir_lookup_1M", "scale_dir_fetch_add_1M",
          "scale_read_hit_1M", "scale_dir_lookup_1M_hot", "scale_dir_fetch_add_1M_hot", "scale_read_hit_1M_hot"}) {
        INFO(name);
        REQUIRE(rows.count(name) == 1);
        CHECK(rows.at(name).is("verified", "true"));
        CHECK(rows.at(name).number("median_us").value_or(0) > 0);
        // The 1 M rows are divided by what they are compared with: the same operations at 1 K
        // (_hot), or plain memory read at the same pages.
        if (std::string(name).find("_1M") != std::string::npos) CHECK(rows.at(name).number("ratio_to_floor").value_or(0) > 0);
    }
    REQUIRE(rows.count("scale_metadata_bytes_per_page") == 1);
    const double bytes = rows.at("scale_metadata_bytes_per_page").number("value").value_or(0);
    CHECK(bytes > 0);
    CHECK(bytes <= 64);
}

TEST_CASE("the synchronization figures report a round, where its time went, and no stale data", "[bench]") {
    run_result r = run_bench({"--ops", "300", "--placement", "free", "--json", "--only", "token_pass_round_handler",
                              "token_pass_round_1page_sigbus", "cas_lock_acquisitions"},
                             300);
    INFO("stderr:\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = rows_by_name(r.out);
    for (const char* name : {"token_pass_round_handler", "token_pass_round_1page_sigbus", "cas_lock_acquisitions"}) {
        INFO(name);
        REQUIRE(rows.count(name) == 1);
        const json_row& row = rows.at(name);
        CHECK(row.is("verified", "true")); // data_errors = 0: no round read stale data, the lock excluded
        CHECK(row.number("ops").value_or(0) >= 300);
        // Every node's share of a round, from the runtime's counters and the scheduler.
        for (const char* key : {"faults_per_round", "fault_service_us_per_round", "home_requests_per_round",
                                "home_service_us_per_round", "invalidations_per_round", "run_queue_wait_us_per_round"})
            CHECK(row.number(key).has_value());
        // Each round moves pages between the two spinners through their home.
        CHECK(row.number("faults_per_round").value_or(0) >= 2);
        CHECK(row.number("home_requests_per_round").value_or(0) >= 2);
    }
    // A round is compared with the 4 KiB ping-pong (the target: at most 8 x); the lock in acquisitions per second.
    CHECK(rows.at("token_pass_round_handler").number("ratio_to_floor").value_or(0) > 0);
    CHECK(rows.at("token_pass_round_handler").number("median_us").value_or(0) > 0);
    CHECK(rows.at("cas_lock_acquisitions").number("value").value_or(0) > 0);
}

TEST_CASE("aether-bench refuses what it cannot run, with exit code 2", "[bench]") {
    run_result unknown = run_bench({"--only", "no_such_figure"}, 20);
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("no_such_figure") != std::string::npos);
    run_result sideways = run_bench({"--placement", "sideways"}, 20);
    CHECK(sideways.exit_code == 2);
    CHECK(sideways.out.empty());
}
