// How a node ended versus how it was expected to end, and the signal names used to say so.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aether::run {

struct outcome {
    enum class kind { exit_status, signal, any };
    kind what = kind::exit_status;
    int value = 0; // exit status or signal number; unused for any

    [[nodiscard]] bool matches(int wait_status) const noexcept;
    [[nodiscard]] std::string describe() const;
};

// "3" is an exit status, "SIGKILL", "KILL" or "sigkill" a signal, "any" anything. Signals are never
// given as numbers, so "9" cannot be mistaken for SIGKILL when exit status 9 was meant.
std::optional<outcome> parse_outcome(std::string_view text);

// "SIGKILL" for 9, "SIGRTMIN+2" for a real-time signal, "SIG<n>" for anything else.
std::string signal_name(int signo);
// Accepts the name with or without the SIG prefix, in any case; nullopt for unknown names.
std::optional<int> signal_from_name(std::string_view name);

// "exited with status 0" or "killed by signal 9 (SIGKILL)", for the per-node report line.
std::string describe_wait_status(int wait_status);

} // namespace aether::run
