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

// Sets the level of every Aether logger (spdlog level names: trace debug info warn error critical
// off). Unknown names are rejected, so a typo in AETHER_LOG is reported instead of ignored.
inline bool set_level(std::string_view name) {
    static constexpr std::array<std::string_view, 7> names{"trace", "debug", "info", "warn", "error", "critical", "off"};
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) {
            auto level = static_cast<spdlog::level::level_enum>(i);
            for (auto* l : {&runtime(), &coherence(), &transport(), &fault()}) l->set_level(level);
            return true;
        }
    }
    return false;
}

} // namespace aether::log

// Hot-path trace: costs nothing unless the build enables it (-Dtrace=true).
#ifdef AETHER_ENABLE_TRACE
#define AETHER_TRACE(logger, ...) (logger).trace(__VA_ARGS__)
#else
#define AETHER_TRACE(logger, ...) ((void)0)
#endif
