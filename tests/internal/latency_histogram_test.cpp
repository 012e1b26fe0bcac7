// The latency histogram's buckets and percentiles (runtime/latency_histogram.hpp).
#include <catch2/catch.hpp>

#include "runtime/latency_histogram.hpp"

#include <random>
#include <thread>
#include <vector>

using namespace aether;
using lh = latency_histogram;

TEST_CASE("every value falls in the bucket whose bounds hold it, within 25 %", "[latency_histogram]") {
    std::mt19937_64 rng(7);
    std::vector<std::uint64_t> values = {0, 1, 7, 8, 9, 15, 16, 17, 1000, 999'999, 1'000'000, UINT64_MAX};
    for (int i = 0; i < 100'000; ++i) values.push_back(rng() >> (rng() % 64));
    for (std::uint64_t v : values) {
        INFO(v);
        const unsigned i = lh::index_of(v);
        REQUIRE(i < lh::bucket_count);
        CHECK(v <= lh::upper_bound(i));
        if (i > 0) CHECK(v > lh::upper_bound(i - 1));
        if (v >= 8) CHECK(static_cast<double>(lh::upper_bound(i) - v) <= 0.25 * static_cast<double>(v));
    }
    CHECK(lh::upper_bound(lh::bucket_count - 1) == UINT64_MAX);
}

TEST_CASE("percentiles come from the buckets, and recording is safe from many threads", "[latency_histogram]") {
    lh h;
    CHECK(h.read().quantile(0.5) == 0); // empty
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&h] {
            for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v * 1000); // 1 us .. 1 ms, 4 times over
        });
    for (auto& t : threads) t.join();
    const auto s = h.read();
    CHECK(s.total == 4000);
    CHECK(s.sum_ns == 4 * 1000 * 500'500);
    // The true p50 is 500 us, p99 990 us: the answers are their buckets' upper bounds.
    CHECK(s.quantile(0.5) >= 500'000);
    CHECK(s.quantile(0.5) <= 625'000);
    CHECK(s.quantile(0.99) >= 990'000);
    CHECK(s.quantile(0.99) <= 1'237'500);
    CHECK(s.quantile(1.0) >= 1'000'000);
    h.reset();
    CHECK(h.read().total == 0);
}

TEST_CASE("a weighted record stands for that many events of its value", "[latency_histogram]") {
    latency_histogram h;
    h.record(100);
    h.record(3000, 64); // one sample of one in 64
    const auto s = h.read();
    CHECK(s.total == 65);
    CHECK(s.sum_ns == 100 + 3000 * 64);
    CHECK(s.counts[latency_histogram::index_of(3000)] == 64);
    CHECK(s.quantile(0.5) == latency_histogram::upper_bound(latency_histogram::index_of(3000)));
    CHECK(s.quantile(0.01) == latency_histogram::upper_bound(latency_histogram::index_of(100)));
}
