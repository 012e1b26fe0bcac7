// One named spdlog logger per component; per-operation trace logging compiles out of release builds.
//
// Loggers write to stderr. Library code logs what the caller cannot see (a peer misbehaving, a
// connection closed); failures it returns are logged by whoever decides what to do with them.
#pragma once
#include "aether/internal/guard.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>
#include <string_view>

namespace aether::log {

namespace detail {

inline std::shared_ptr<spdlog::logger> make(const char* name) {
    if (auto existing = spdlog::get(name)) return existing;
    auto l = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("[%H:%M:%S.%e] [%n] [%l] %v");
    l->set_level(spdlog::level::warn);
    spdlog::register_logger(l);
    return l;
}

inline spdlog::logger& named(const char* name) {
    // Each component keeps its own shared_ptr, so the logger outlives every use in this process.
    return *make(name);
}

} // namespace detail

inline spdlog::logger& runtime() {
    static auto l = detail::make("aether.runtime");
    return *l;
}
inline spdlog::logger& coherence() {
    static auto l = detail::make("aether.coherence");
    return *l;
}
inline spdlog::logger& transport() {
    static auto l = detail::make("aether.transport.tcp");
    return *l;
}
inline spdlog::logger& fault() {
    static auto l = detail::make("aether.fault");
    return *l;
}

// Sets logger levels from AETHER_LOG: a level for every Aether logger ("info"), or a
// comma-separated list of `component=level` ("aether.fault=debug,aether.transport=info"), where a
// component names a logger or a prefix of its dotted name ("aether.transport" is
// aether.transport.tcp; "aether" is all), and a bare level sets the others. Levels are spdlog's:
// trace debug info warn error critical off. Nothing is set unless the whole text is valid, so a
// typo is reported instead of ignored.
inline bool set_level(std::string_view spec) {
    static constexpr std::array<std::string_view, 7> names{"trace", "debug", "info", "warn", "error", "critical", "off"};
    auto level_of = [](std::string_view name, spdlog::level::level_enum& out) {
        for (std::size_t i = 0; i < names.size(); ++i)
            if (names[i] == name) {
                out = static_cast<spdlog::level::level_enum>(i);
                return true;
            }
        return false;
    };
    spdlog::logger* const all[] = {&runtime(), &coherence(), &transport(), &fault()};
    // Whether `component` names the logger called `n`: all of it, or a dotted prefix of it.
    auto covers = [](std::string_view component, std::string_view n) {
        return n == component || (n.starts_with(component) && n.size() > component.size() && n[component.size()] == '.');
    };
    struct setting {
        std::string_view component; // empty: every logger no other item names
        spdlog::level::level_enum level;
    };
    std::array<setting, 16> items{};
    std::size_t count = 0;
    for (std::size_t start = 0; start <= spec.size();) {
        std::size_t comma = spec.find(',', start);
        if (comma == std::string_view::npos) comma = spec.size();
        std::string_view item = spec.substr(start, comma - start);
        start = comma + 1;
        if (count == items.size()) return false;
        const std::size_t eq = item.find('=');
        setting& s = items[count++];
        if (eq != std::string_view::npos) s.component = item.substr(0, eq);
        if (!level_of(eq == std::string_view::npos ? item : item.substr(eq + 1), s.level)) return false;
        if (eq != std::string_view::npos) {
            bool names_one = false;
            for (auto* l : all) names_one = names_one || covers(s.component, l->name());
            if (!names_one) return false;
        }
        if (comma == spec.size()) break;
    }
    for (auto* l : all) {
        const std::string_view n = l->name();
        std::size_t best = 0; // the longest component that names this logger wins
        bool set = false;
        for (std::size_t i = 0; i < count; ++i) {
            const setting& s = items[i];
            if ((s.component.empty() || covers(s.component, n)) && (!set || s.component.size() >= best)) {
                l->set_level(s.level);
                best = s.component.size();
                set = true;
            }
        }
    }
    return true;
}

} // namespace aether::log

// Hot-path trace: costs nothing unless the build enables it (-Dtrace=true).
#ifdef AETHER_ENABLE_TRACE
#define AETHER_TRACE(logger, ...) (logger).trace(__VA_ARGS__)
#else
#define AETHER_TRACE(logger, ...) ((void)0)
#endif
