// Cycle-counter calibration and order statistics.
#include "tools/aether-bench/timing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace aether::bench {

namespace {

double nearest_rank(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return static_cast<double>(sorted[rank - 1]);
}

} // namespace

tick_clock tick_clock::calibrate() noexcept {
    tick_clock c;
    c.use_tsc_ = cpu_has_invariant_tsc();
    if (c.use_tsc_) {
        // Several short windows: a preemption inside one only spoils that one, and the median
        // rate ignores it.
        std::vector<double> rates;
        for (int i = 0; i < 5; ++i) {
            std::uint64_t t0 = now_ns();
            std::uint64_t c0 = c.now();
            while (now_ns() - t0 < 10'000'000u) {}
            std::uint64_t c1 = c.now();
            std::uint64_t t1 = now_ns();
            if (c1 > c0) rates.push_back(static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0));
        }
        if (rates.size() < 3) {
            c.use_tsc_ = false;
        } else {
            std::sort(rates.begin(), rates.end());
            c.ns_per_tick_ = rates[rates.size() / 2];
        }
    }
    if (!c.use_tsc_) c.ns_per_tick_ = 1.0;
    std::vector<std::uint64_t> pairs(2001);
    for (auto& p : pairs) {
        std::uint64_t a = c.now();
        std::uint64_t b = c.now();
        p = b - a;
    }
    std::sort(pairs.begin(), pairs.end());
    c.overhead_ns_ = c.to_ns(static_cast<double>(pairs[pairs.size() / 2]));
    return c;
}

summary summarize(std::vector<std::uint64_t>& ticks, const tick_clock& clock) {
    summary s;
    if (ticks.empty()) return s;
    std::sort(ticks.begin(), ticks.end());
    s.count = ticks.size();
    const std::size_t n = ticks.size();
    double mid = n % 2 == 1 ? static_cast<double>(ticks[n / 2])
                            : (static_cast<double>(ticks[n / 2 - 1]) + static_cast<double>(ticks[n / 2])) / 2.0;
    s.median_ns = clock.to_ns(mid);
    s.p99_ns = clock.to_ns(nearest_rank(ticks, 0.99));
    double total = std::accumulate(ticks.begin(), ticks.end(), 0.0,
                                   [](double acc, std::uint64_t t) { return acc + static_cast<double>(t); });
    s.total_ns = clock.to_ns(total);
    s.mean_ns = s.total_ns / static_cast<double>(n);
    return s;
}

} // namespace aether::bench
