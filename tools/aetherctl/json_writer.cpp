// The JSON writer behind `aetherctl ... --json`.
#include "json_writer.hpp"

#include <cstdio>

namespace aetherctl {

std::string json_writer::escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (char ch : s) {
        auto u = static_cast<unsigned char>(ch);
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (u < 0x20 || u == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", u);
                out += buf;
            } else {
                // Bytes >= 0x80 pass through: kernel and library strings are UTF-8 or ASCII.
                out += ch;
            }
        }
    }
    out += '"';
    return out;
}

void json_writer::newline() {
    out_ << '\n';
    for (std::size_t i = 0; i < empty_.size(); ++i) out_ << "  ";
}

void json_writer::element() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!empty_.empty()) {
        if (!empty_.back()) out_ << ',';
        empty_.back() = false;
        newline();
    }
}

json_writer& json_writer::open(char c) {
    element();
    out_ << c;
    empty_.push_back(true);
    return *this;
}

json_writer& json_writer::close(char c) {
    bool was_empty = empty_.empty() || empty_.back();
    if (!empty_.empty()) empty_.pop_back();
    if (!was_empty) newline();
    out_ << c;
    if (empty_.empty()) out_ << '\n';
    return *this;
}

json_writer& json_writer::begin_object() { return open('{'); }
json_writer& json_writer::end_object() { return close('}'); }
json_writer& json_writer::begin_array() { return open('['); }
json_writer& json_writer::end_array() { return close(']'); }

json_writer& json_writer::key(std::string_view k) {
    element();
    out_ << escape(k) << ": ";
    after_key_ = true;
    return *this;
}

json_writer& json_writer::value(std::string_view s) {
    element();
    out_ << escape(s);
    return *this;
}

json_writer& json_writer::value(bool b) {
    element();
    out_ << (b ? "true" : "false");
    return *this;
}

} // namespace aetherctl
