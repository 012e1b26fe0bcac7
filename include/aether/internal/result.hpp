// The internal result type: a value, or a failure that carries the precise VOID reason.
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aether {

// Same values as Seraph_Aether_Void_Reason (ABI): a cast converts between them.
enum class void_reason : std::uint8_t {
    none = 0,
    timeout,
    unreachable,
    partition,
    node_crashed,
    permission,
    generation,
    corruption,
};

// Same values as Seraph_Aether_Fetch_Status (ABI).
enum class fetch_status : std::uint8_t {
    ok = 0,
    unreachable,
    timeout,
    remote_error,
    oom,
    invalid_addr,
    permission,
    generation,
    corruption,
    not_found,
    rdma_error,
    tcp_error,
};

inline const char* to_string(void_reason r) noexcept {
    switch (r) {
    case void_reason::none: return "NONE";
    case void_reason::timeout: return "TIMEOUT";
    case void_reason::unreachable: return "UNREACHABLE";
    case void_reason::partition: return "PARTITION";
    case void_reason::node_crashed: return "NODE_CRASHED";
    case void_reason::permission: return "PERMISSION";
    case void_reason::generation: return "GENERATION";
    case void_reason::corruption: return "CORRUPTION";
    }
    return "UNKNOWN";
}

inline const char* to_string(fetch_status s) noexcept {
    switch (s) {
    case fetch_status::ok: return "OK";
    case fetch_status::unreachable: return "UNREACHABLE";
    case fetch_status::timeout: return "TIMEOUT";
    case fetch_status::remote_error: return "REMOTE_ERROR";
    case fetch_status::oom: return "OOM";
    case fetch_status::invalid_addr: return "INVALID_ADDR";
    case fetch_status::permission: return "PERMISSION";
    case fetch_status::generation: return "GENERATION";
    case fetch_status::corruption: return "CORRUPTION";
    case fetch_status::not_found: return "NOT_FOUND";
    case fetch_status::rdma_error: return "RDMA_ERROR";
    case fetch_status::tcp_error: return "TCP_ERROR";
    }
    return "UNKNOWN";
}

// Why an operation produced no value. `reason` is what the caller's VOID context reports; `code`
// is the errno behind it where there was one (ECONNREFUSED, EADDRINUSE, ...; 0: none), kept so
// that what is reported to a person can say what the system said.
struct failure {
    fetch_status status = fetch_status::remote_error;
    void_reason reason = void_reason::none;
    int code = 0;

    // A failure of the path to a node as a transport backend reports it: the errno only
    // (transport/path_error.hpp says what each means). The runtime gives it its status and VOID
    // reason as it leaves the transport (runtime/void_reasons.hpp).
    static constexpr failure path(int errno_value) noexcept {
        return {fetch_status::remote_error, void_reason::none, errno_value};
    }
    // Not given its reason yet: a path failure straight from a transport.
    [[nodiscard]] constexpr bool unclassified() const noexcept { return code != 0 && reason == void_reason::none; }

    // The status that goes with a network-level reason, as the C API reports it.
    static constexpr failure of(void_reason r) noexcept {
        switch (r) {
        case void_reason::timeout: return {fetch_status::timeout, r};
        case void_reason::unreachable:
        case void_reason::partition:
        case void_reason::node_crashed: return {fetch_status::unreachable, r};
        case void_reason::permission: return {fetch_status::permission, r};
        case void_reason::generation: return {fetch_status::generation, r};
        case void_reason::corruption: return {fetch_status::corruption, r};
        case void_reason::none: break;
        }
        return {fetch_status::remote_error, r};
    }
    friend bool operator==(const failure&, const failure&) = default;
};

// Why start-up could not do something (reading the configuration, making the window, listening,
// starting threads): a sentence for the person who started the program, and the errno behind it
// (0: none) for code that must tell causes apart. Only the setup path makes one: it allocates,
// which the fault path may not.
struct setup_error {
    std::string message;
    int code = 0;

    // "<what, joined>: <strerror(errno_value)>", keeping the errno. The parts are joined in here,
    // after `errno` was read for the first argument: a message built before the call could
    // allocate, and allocating may change errno (argument order is unspecified).
    static setup_error from_errno(int errno_value, std::initializer_list<std::string_view> what) {
        setup_error e{{}, errno_value};
        for (std::string_view part : what) e.message += part;
        e.message += ": ";
        e.message += std::strerror(errno_value);
        return e;
    }
    // The same error with `context` in front: "<context>: <message>".
    [[nodiscard]] setup_error within(const std::string& context) const { return {context + ": " + message, code}; }
};

// The library's one way to say "a value, or why not". E is `failure` on the data path (no
// allocation, no text: it runs in signal handlers) and `setup_error` on the setup path; the C API
// turns either into what the caller sees (a VOID reason, a status, a message) once, at its
// boundary.
template <class T, class E = failure>
class [[nodiscard]] result {
public:
    result(T value)
        : v_(std::in_place_index<0>, std::move(value)) {} // NOLINT: implicit by design
    result(E e)
        : v_(std::in_place_index<1>, std::move(e)) {} // NOLINT
    [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::get<0>(std::move(v_)); }
    [[nodiscard]] const E& error() const { return std::get<1>(v_); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] result<void, E> {
public:
    result() = default;
    result(E e)
        : ok_(false),
          e_(std::move(e)) {} // NOLINT
    [[nodiscard]] bool ok() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    [[nodiscard]] const E& error() const { return e_; }

private:
    bool ok_ = true;
    E e_{};
};

// Shorthand for the setup path's results.
template <class T>
using setup_result = result<T, setup_error>;

inline result<void> success() { return {}; }

} // namespace aether
