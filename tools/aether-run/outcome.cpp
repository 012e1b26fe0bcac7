// Outcome matching and signal names for aether-run.
#include "tools/aether-run/outcome.hpp"

#include <sys/wait.h>

#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <utility>

namespace aether::run {

namespace {

// Written out rather than taken from sigabbrev_np() so that parsing and printing share one table
// and behave the same on every libc.
constexpr std::array<std::pair<int, const char*>, 31> signal_table{{
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},       {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},
    {SIGBUS, "BUS"},   {SIGFPE, "FPE"},       {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},     {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"}, {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"},
    {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},     {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},   {SIGIO, "IO"},     {SIGPWR, "PWR"},
    {SIGSYS, "SYS"},
}};

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

} // namespace

bool outcome::matches(int wait_status) const noexcept {
    switch (what) {
    case kind::any: return true;
    case kind::exit_status: return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == value;
    case kind::signal: return WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == value;
    }
    return false;
}

std::string outcome::describe() const {
    switch (what) {
    case kind::any: return "any outcome";
    case kind::exit_status: return "exit status " + std::to_string(value);
    case kind::signal: return "signal " + std::to_string(value) + " (" + signal_name(value) + ")";
    }
    return "?";
}

std::optional<outcome> parse_outcome(std::string_view text) {
    if (text.empty()) return std::nullopt;
    if (upper(text) == "ANY") return outcome{outcome::kind::any, 0};
    if (std::isdigit(static_cast<unsigned char>(text.front()))) {
        int status = -1;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
        if (ec != std::errc{} || end != text.data() + text.size() || status > 255) return std::nullopt;
        return outcome{outcome::kind::exit_status, status};
    }
    if (auto signo = signal_from_name(text)) return outcome{outcome::kind::signal, *signo};
    return std::nullopt;
}

std::string signal_name(int signo) {
    for (const auto& [number, name] : signal_table)
        if (number == signo) return std::string("SIG") + name;
    if (signo >= SIGRTMIN && signo <= SIGRTMAX) {
        if (signo == SIGRTMIN) return "SIGRTMIN";
        return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
    }
    return "SIG" + std::to_string(signo);
}

std::optional<int> signal_from_name(std::string_view name) {
    std::string n = upper(name);
    if (n.starts_with("SIG")) n.erase(0, 3);
    if (n.empty()) return std::nullopt;
    for (const auto& [number, table_name] : signal_table)
        if (n == table_name) return number;
    // The aliases people actually type.
    if (n == "IOT") return SIGABRT;
    if (n == "POLL") return SIGIO;
    if (n == "CLD") return SIGCHLD;
    if (n == "RTMIN") return SIGRTMIN;
    if (n == "RTMAX") return SIGRTMAX;
    if (n.starts_with("RTMIN+")) {
        int offset = -1;
        auto [end, ec] = std::from_chars(n.data() + 6, n.data() + n.size(), offset);
        if (ec == std::errc{} && end == n.data() + n.size() && offset >= 0 && SIGRTMIN + offset <= SIGRTMAX)
            return SIGRTMIN + offset;
    }
    return std::nullopt;
}

std::string describe_wait_status(int wait_status) {
    if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
    if (WIFSIGNALED(wait_status)) {
        int signo = WTERMSIG(wait_status);
        return "killed by signal " + std::to_string(signo) + " (" + signal_name(signo) + ")";
    }
    return "ended with wait status " + std::to_string(wait_status);
}

} // namespace aether::run
