// Helpers shared by the tests in tests/internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace aether::test {

// n bytes drawn from rng, so a test's data follow from its seed.
inline std::vector<std::byte> random_bytes(std::mt19937_64& rng, std::size_t n) {
    std::vector<std::byte> out(n);
    for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
    return out;
}

// n bytes from a fresh generator seeded with seed.
inline std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    return random_bytes(rng, n);
}

} // namespace aether::test
