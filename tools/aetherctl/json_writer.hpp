// A small streaming JSON writer for aetherctl's machine-readable output (no JSON library needed).
#pragma once

#include <concepts>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace aetherctl {

// Writes indented JSON; the caller keeps containers balanced. Inside an object every value is
// preceded by key().
class json_writer {
public:
    explicit json_writer(std::ostream& out)
        : out_(out) {}

    json_writer& begin_object();
    json_writer& end_object();
    json_writer& begin_array();
    json_writer& end_array();
    json_writer& key(std::string_view k);

    json_writer& value(std::string_view s);
    json_writer& value(const char* s) { return value(std::string_view(s)); }
    json_writer& value(const std::string& s) { return value(std::string_view(s)); }
    json_writer& value(bool b);
    // clang-format off: clang-format 14 does not lay out requires-clauses
    template <std::integral T>
    requires(!std::same_as<T, bool>) json_writer& value(T v) {
        element();
        out_ << std::to_string(v);
        return *this;
    }
    // clang-format on

    // key(k).value(v) in one call.
    template <class T>
    json_writer& field(std::string_view k, const T& v) {
        key(k);
        return value(v);
    }

    static std::string escape(std::string_view s);

private:
    // Comma and indentation before a new element (nothing after a key).
    void element();
    void newline();
    json_writer& open(char c);
    json_writer& close(char c);

    std::ostream& out_;
    std::vector<bool> empty_; // one per open container: nothing written into it yet
    bool after_key_ = false;
};

} // namespace aetherctl
