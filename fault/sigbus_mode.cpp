// The SIGBUS handler of sigbus mode, and its chaining to the application's own handler.
#include "fault/sigbus_mode.hpp"

#include <pthread.h>
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

// Sets SIGBUS back to its default action (termination). Our handler is gone after this.
void restore_default() noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, nullptr);
}

// Hands a SIGBUS that is not ours, or a store that must fail, to whoever had SIGBUS before us, or
// does what their disposition would have done. Runs in the signal handler: async-signal-safe only.
void chain(int sig, siginfo_t* si, void* ctx) {
    // SIG_IGN and SIG_DFL are values of the union whichever member SA_SIGINFO names (the kernel
    // keeps SA_SIGINFO with them): compare them as sa_handler, never call them.
    const auto previous = g_previous.sa_handler;
    if (previous != SIG_DFL && previous != SIG_IGN) {
        if (g_previous.sa_flags & SA_SIGINFO)
            g_previous.sa_sigaction(sig, si, ctx);
        else
            g_previous.sa_handler(sig);
        return;
    }
    if (si->si_code <= 0) {
        // Sent by a process (kill, sigqueue, tgkill, raise): nothing repeats it once we return.
        // Ignored, it is dropped as it would have been without us, and our handler stays for the
        // window faults to come.
        if (previous == SIG_IGN) return;
        // The default action is to end the process: do it, with SIGBUS as the cause. The signal is
        // blocked while this handler runs, so it waits until it is unblocked, and then kills.
        restore_default();
        ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), SIGBUS);
        sigset_t bus;
        sigemptyset(&bus);
        sigaddset(&bus, SIGBUS);
        pthread_sigmask(SIG_UNBLOCK, &bus, nullptr);
        return;
    }
    // A fault the kernel raised (a store that must fail, or a bus error outside the window).
    // Returning re-executes the access, which faults again and now kills the process with SIGBUS,
    // as an unhandled bus error would. SIG_IGN too: the kernel does not let a fault be ignored (it
    // resets the disposition and kills), and keeping our handler would retry the access forever.
    restore_default();
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

setup_result<void> install_sigbus_mode(window& w, fault_sink& sink) {
    std::lock_guard lock(g_install_mu);
    if (g_window.load() != nullptr) return setup_error{"another window already uses sigbus mode in this process", EBUSY};
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_sink.store(&sink, std::memory_order_release);
    g_window.store(&w, std::memory_order_release);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) {
        const int e = errno;
        g_window.store(nullptr);
        g_sink.store(nullptr);
        return setup_error::from_errno(e, {"cannot install the SIGBUS handler"});
    }
    return {};
}

void uninstall_sigbus_mode() noexcept {
    std::lock_guard lock(g_install_mu);
    if (g_window.load() == nullptr) return;
    sigaction(SIGBUS, &g_previous, nullptr);
    g_window.store(nullptr, std::memory_order_release);
    g_sink.store(nullptr, std::memory_order_release);
}

} // namespace aether::fault
