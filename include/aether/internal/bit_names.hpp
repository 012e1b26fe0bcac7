// Naming the bits of a kernel feature mask (userfaultfd features and ioctls, IORING_FEAT_*), for the
// kernel-feature probes and `aetherctl probe`.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>

namespace aether {

// One named bit of a mask: `bit` is the bit's value (1 << n), not n.
struct bit_name {
    std::uint64_t bit;
    const char* name;
};

// True when every entry is a single bit and no bit is named twice (for static_assert on a table).
constexpr bool single_distinct_bits(std::span<const bit_name> table) noexcept {
    std::uint64_t seen = 0;
    for (const bit_name& b : table) {
        if (b.bit == 0 || (b.bit & (b.bit - 1)) != 0 || (seen & b.bit) != 0) return false;
        seen |= b.bit;
    }
    return true;
}

// "A|B|0x..." for `mask`: the names of its set bits in table order, then the bits the table does not
// name together as one hex number; "" for 0.
inline std::string bit_names(std::uint64_t mask, std::span<const bit_name> table) {
    std::string out;
    auto append = [&out](const char* name) {
        if (!out.empty()) out += '|';
        out += name;
    };
    std::uint64_t known = 0;
    for (const bit_name& b : table) {
        known |= b.bit;
        if (mask & b.bit) append(b.name);
    }
    if (std::uint64_t unknown = mask & ~known) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(unknown));
        append(buf);
    }
    return out;
}

} // namespace aether
