// The SIGBUS handler of sigbus mode, and its chaining to the application's own handler.
#include "fault/sigbus_mode.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace aether::fault {

namespace {

std::atomic<window*> g_window{nullptr};
std::atomic<fault_sink*> g_sink{nullptr};
struct sigaction g_previous {};
std::mutex g_install_mu;

// Hands a SIGBUS that is not ours, or a store that must fail, to whoever had SIGBUS before us.
void chain(int sig, siginfo_t* si, void* ctx) {
    if (g_previous.sa_flags & SA_SIGINFO) {
        if (g_previous.sa_sigaction != nullptr) {
            g_previous.sa_sigaction(sig, si, ctx);
            return;
        }
    } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    // Default action: returning re-executes the access, which faults again and now kills the
    // process with SIGBUS, as an unhandled bus error would.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, nullptr);
}

void on_sigbus(int sig, siginfo_t* si, void* ctx) {
    window* w = g_window.load(std::memory_order_acquire);
    fault_sink* sink = g_sink.load(std::memory_order_acquire);
    const auto addr = reinterpret_cast<std::uint64_t>(si->si_addr);
    if (w != nullptr && sink != nullptr && si->si_code == BUS_ADRERR && w->contains(addr)) {
        const int saved_errno = errno;
        // Bit 1 of the x86 page-fault error code: the access was a write.
        const bool write = (static_cast<ucontext_t*>(ctx)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
        fault_outcome out = sink->resolve(fault_event{addr, write, static_cast<pid_t>(::syscall(SYS_gettid))});
        errno = saved_errno;
        if (out != fault_outcome::raise_sigbus) return; // retry the access
    }
    chain(sig, si, ctx);
}

} // namespace

bool install_sigbus_mode(window& w, fault_sink& sink, std::string& error) {
    std::lock_guard lock(g_install_mu);
    if (g_window.load() != nullptr) {
        error = "another window already uses sigbus mode in this process";
        return false;
    }
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_sink.store(&sink, std::memory_order_release);
    g_window.store(&w, std::memory_order_release);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) {
        g_window.store(nullptr);
        g_sink.store(nullptr);
        error = "cannot install the SIGBUS handler";
        return false;
    }
    return true;
}

void uninstall_sigbus_mode() noexcept {
    std::lock_guard lock(g_install_mu);
    if (g_window.load() == nullptr) return;
    sigaction(SIGBUS, &g_previous, nullptr);
    g_window.store(nullptr, std::memory_order_release);
    g_sink.store(nullptr, std::memory_order_release);
}

} // namespace aether::fault
