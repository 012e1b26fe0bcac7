// The line protocol between node processes and the driver: "kind key=value key=value ...\n" on a
// pipe of their own, so that whatever the runtime logs on stderr never mixes with a result.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aether::bench {

struct record {
    std::string kind; // "row", "counters" or "fail"
    std::map<std::string, std::string> fields;

    record& set(const std::string& key, const std::string& value);
    record& set(const std::string& key, double value);
    record& set(const std::string& key, std::uint64_t value);
    record& set(const std::string& key, int value) { return set(key, static_cast<std::uint64_t>(value)); }

    [[nodiscard]] const std::string* get(const std::string& key) const;
    [[nodiscard]] std::optional<double> number(const std::string& key) const;
    [[nodiscard]] std::string text(const std::string& key, const std::string& fallback = "") const;

    // Values are escaped on the way out and restored by decode(), so any text can travel.
    [[nodiscard]] std::string encode() const;
    static std::optional<record> decode(std::string_view line);
};

// Splits accumulated pipe text into records (incomplete last lines are ignored).
std::vector<record> decode_all(std::string_view text);

} // namespace aether::bench
