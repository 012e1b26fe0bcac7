// Parsing of the AETHER_* environment.
#include "runtime/config.hpp"

#include "aether/internal/log.hpp"
#include "transport/wire.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace aether {

namespace {

std::optional<std::uint64_t> parse_uint(const std::string& s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
}

// A whole number in [lo, hi] from the variable `name`, if set. False (and `error` says why) when
// it is set to anything else.
bool bounded_env(const char* name, std::uint64_t lo, std::uint64_t hi, const char* unit, std::uint64_t& out, std::string& error) {
    const char* v = env(name);
    if (v == nullptr) return true;
    auto t = parse_uint(v);
    if (!t || *t < lo || *t > hi) {
        error = std::string(name) + " must be a number of " + unit + " between " + std::to_string(lo) + " and " +
                std::to_string(hi) + ", not \"" + v + "\"";
        return false;
    }
    out = *t;
    return true;
}

// One of a few named values from the variable `name`, if set. False (and `error` lists the names)
// when it is set to anything else.
template <class Value>
bool choice_env(const char* name, std::initializer_list<std::pair<const char*, Value>> choices, Value& out, std::string& error) {
    const char* v = env(name);
    if (v == nullptr) return true;
    for (const auto& [text, value] : choices) {
        if (std::string_view(v) == text) {
            out = value;
            return true;
        }
    }
    error = std::string(name) + " must be ";
    std::size_t i = 0;
    for (const auto& [text, value] : choices) {
        error += std::string(i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + "\"" + text + "\"";
        ++i;
    }
    error += std::string(", not \"") + v + "\"";
    return false;
}

} // namespace

std::uint64_t effective_poll_ns(const runtime_config& c) noexcept {
    if (c.poll_ns) return *c.poll_ns;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 50'000;
    return CPU_COUNT(&allowed) > 1 ? 50'000 : 0;
}

std::uint32_t effective_lease_ms(const runtime_config& c) noexcept {
    if (c.lease_ms) return *c.lease_ms;
    return std::clamp<std::uint32_t>(c.timeout_ms / 4 * 3, 20, 2000);
}

std::uint32_t effective_suspect_ms(const runtime_config& c) noexcept { return c.suspect_ms.value_or(c.timeout_ms); }

std::uint64_t service_poll_ns(const runtime_config& c, thread_priority effective) noexcept {
    constexpr std::uint64_t realtime_cap_ns = 20'000;
    const std::uint64_t poll = effective_poll_ns(c);
    return effective == thread_priority::realtime ? std::min(poll, realtime_cap_ns) : poll;
}

std::optional<thread_priority> effective_thread_priority(const runtime_config& c, std::string& error) {
    if (c.threads == thread_priority::normal) return thread_priority::normal;
    if (may_run_realtime()) return thread_priority::realtime;
    if (c.threads == thread_priority::automatic) return thread_priority::normal;
    error = "AETHER_THREAD_PRIORITY=realtime, but this process may not make threads real-time "
            "(it needs CAP_SYS_NICE, or `ulimit -r` of at least 1)";
    return std::nullopt;
}

std::optional<std::size_t> parse_size(const std::string& text) {
    if (text.empty()) return std::nullopt;
    std::size_t mult = 1;
    std::string digits = text;
    switch (text.back()) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        digits.pop_back();
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        digits.pop_back();
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        digits.pop_back();
        break;
    default: break;
    }
    auto v = parse_uint(digits);
    if (!v || *v > (std::uint64_t{1} << 32) / mult) return std::nullopt;
    return *v * mult;
}

bool apply_optional_env(runtime_config& c, std::string& error) {
    std::uint64_t n = c.timeout_ms;
    if (!bounded_env("AETHER_TIMEOUT_MS", 1, 3'600'000, "milliseconds", n, error)) return false;
    c.timeout_ms = static_cast<std::uint32_t>(n);
    if (const char* v = env("AETHER_LOG")) {
        if (!log::set_level(v)) {
            error = std::string("AETHER_LOG must be one of trace, debug, info, warn, error, critical, off, not \"") + v + "\"";
            return false;
        }
    }
    if (const char* v = env("AETHER_HOME_SIZE")) {
        auto b = parse_size(v);
        if (!b || *b == 0) {
            error = std::string("AETHER_HOME_SIZE must be a size such as 64M or 1G (at most 4G), not \"") + v + "\"";
            return false;
        }
        c.home_bytes = *b;
    }
    if (!choice_env("AETHER_FAULT_MODE", {{"handler", fault::fault_mode::handler}, {"sigbus", fault::fault_mode::sigbus}}, c.mode,
                    error))
        return false;
    if (!choice_env("AETHER_VOID_POLICY", {{"sigbus", store_policy::sigbus}, {"block", store_policy::block}}, c.stores, error))
        return false;
    n = c.void_retry_ms;
    if (!bounded_env("AETHER_VOID_RETRY_MS", 1, 3'600'000, "milliseconds", n, error)) return false;
    c.void_retry_ms = static_cast<std::uint32_t>(n);
    n = UINT64_MAX;
    if (!bounded_env("AETHER_LEASE_MS", 20, 3'600'000, "milliseconds", n, error)) return false;
    if (n != UINT64_MAX) c.lease_ms = static_cast<std::uint32_t>(n);
    n = UINT64_MAX;
    if (!bounded_env("AETHER_SUSPECT_MS", 20, 3'600'000, "milliseconds", n, error)) return false;
    if (n != UINT64_MAX) c.suspect_ms = static_cast<std::uint32_t>(n);
    n = UINT64_MAX;
    if (!bounded_env("AETHER_POLL_US", 0, 1'000'000, "microseconds", n, error)) return false;
    if (n != UINT64_MAX) c.poll_ns = n * 1000;
    n = c.fault_spin_ns / 1000;
    if (!bounded_env("AETHER_FAULT_SPIN_US", 0, 1'000'000, "microseconds", n, error)) return false;
    c.fault_spin_ns = n * 1000;
    if (!choice_env(
            "AETHER_THREAD_PRIORITY",
            {{"auto", thread_priority::automatic}, {"normal", thread_priority::normal}, {"realtime", thread_priority::realtime}},
            c.threads, error))
        return false;
    n = c.fault_threads;
    if (!bounded_env("AETHER_FAULT_THREADS", 1, 256, "threads", n, error)) return false;
    c.fault_threads = static_cast<std::uint32_t>(n);
    n = c.hold_ns / 1000;
    if (!bounded_env("AETHER_HOLD_US", 0, 100'000, "microseconds", n, error)) return false;
    c.hold_ns = n * 1000;
    n = c.readahead_pages;
    if (!bounded_env("AETHER_READAHEAD_PAGES", 1, wire::max_readahead + 1, "pages", n, error)) return false;
    c.readahead_pages = static_cast<std::uint32_t>(n);
    // Checked against the backends of this build when the runtime starts (transport/backends.hpp).
    if (const char* v = env("AETHER_TRANSPORT")) c.transport = v;
    return true;
}

std::optional<runtime_config> config_from_env(std::string& error) {
    runtime_config c;
    const char* id = env("AETHER_NODE_ID");
    const char* count = env("AETHER_NODE_COUNT");
    const char* peers = env("AETHER_PEERS");
    if (count == nullptr) {
        error = "AETHER_NODE_COUNT is not set (the number of nodes in the cluster)";
        return std::nullopt;
    }
    auto n = parse_uint(count);
    if (!n || *n == 0 || *n > SERAPH_AETHER_MAX_NODES) {
        error = std::string("AETHER_NODE_COUNT must be between 1 and 16384, not \"") + count + "\"";
        return std::nullopt;
    }
    c.node_count = static_cast<node_id>(*n);
    if (id == nullptr) {
        error = "AETHER_NODE_ID is not set (this node's id, 0 .. AETHER_NODE_COUNT-1)";
        return std::nullopt;
    }
    auto i = parse_uint(id);
    if (!i || *i >= c.node_count) {
        error = std::string("AETHER_NODE_ID must be a node id below AETHER_NODE_COUNT (") + count + "), not \"" + id + "\"";
        return std::nullopt;
    }
    c.self = static_cast<node_id>(*i);
    if (peers == nullptr) {
        error = "AETHER_PEERS is not set (host:port of every node, comma-separated, in node-id order)";
        return std::nullopt;
    }
    std::string list = peers;
    std::size_t start = 0;
    while (start <= list.size()) {
        std::size_t comma = list.find(',', start);
        std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        // "a:1, b:2" as people write lists: blanks around an entry are not part of it.
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        const auto colon = item.rfind(':');
        const std::uint64_t port = colon == std::string::npos ? 0 : parse_uint(item.substr(colon + 1)).value_or(0);
        const bool well_formed =
            colon != std::string::npos && colon > 0 && item.find_first_of(" \t") == std::string::npos && port > 0 && port < 65536;
        if (!well_formed) {
            error = "AETHER_PEERS entry " + std::to_string(c.peers.size()) + " (\"" + item + "\") is not host:port";
            return std::nullopt;
        }
        c.peers.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (c.peers.size() != c.node_count) {
        error = "AETHER_PEERS lists " + std::to_string(c.peers.size()) + " nodes but AETHER_NODE_COUNT is " +
                std::to_string(c.node_count);
        return std::nullopt;
    }
    if (const char* s = env("AETHER_SECRET")) c.secret = s;
    if (const char* v = env("AETHER_LISTEN_FD")) {
        auto fd = parse_uint(v);
        if (!fd || *fd > INT_MAX) {
            error = std::string("AETHER_LISTEN_FD must be a file descriptor number, not \"") + v + "\"";
            return std::nullopt;
        }
        c.listen_fd = static_cast<int>(*fd);
    }
    if (!apply_optional_env(c, error)) return std::nullopt;
    return c;
}

} // namespace aether
