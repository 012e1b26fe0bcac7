// Encoding and decoding of result records.
#include "tools/aether-bench/record.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace aether::bench {

namespace {

// Values travel inside one space-separated line: the few characters that would break it are
// percent-escaped.
std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '%' || c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '=') {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

std::string unescape(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            unsigned v = 0;
            if (std::sscanf(std::string(s.substr(i + 1, 2)).c_str(), "%2X", &v) == 1) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

} // namespace

record& record::set(const std::string& key, const std::string& value) {
    fields[key] = value;
    return *this;
}

record& record::set(const std::string& key, double value) {
    char buf[64];
    // %.17g keeps every bit, so the driver computes ratios from what the node measured.
    std::snprintf(buf, sizeof buf, "%.17g", value);
    fields[key] = buf;
    return *this;
}

record& record::set(const std::string& key, std::uint64_t value) {
    fields[key] = std::to_string(value);
    return *this;
}

const std::string* record::get(const std::string& key) const {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
}

std::optional<double> record::number(const std::string& key) const {
    const std::string* v = get(key);
    if (v == nullptr || v->empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(v->c_str(), &end);
    if (errno != 0 || end == nullptr || *end != '\0') return std::nullopt;
    return d;
}

std::string record::text(const std::string& key, const std::string& fallback) const {
    const std::string* v = get(key);
    return v == nullptr ? fallback : *v;
}

std::string record::encode() const {
    std::string line = kind;
    for (const auto& [k, v] : fields) line += " " + k + "=" + escape(v);
    line += "\n";
    return line;
}

std::optional<record> record::decode(std::string_view line) {
    record r;
    std::size_t pos = line.find(' ');
    r.kind = std::string(line.substr(0, pos));
    if (r.kind.empty()) return std::nullopt;
    while (pos != std::string_view::npos) {
        std::size_t start = pos + 1;
        pos = line.find(' ', start);
        std::string_view token = line.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
        if (token.empty()) continue;
        std::size_t eq = token.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        r.fields[std::string(token.substr(0, eq))] = unescape(token.substr(eq + 1));
    }
    return r;
}

std::vector<record> decode_all(std::string_view text) {
    std::vector<record> out;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos) break;
        if (auto r = record::decode(text.substr(0, nl))) out.push_back(std::move(*r));
        text.remove_prefix(nl + 1);
    }
    return out;
}

} // namespace aether::bench
