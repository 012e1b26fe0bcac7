// The fault path's handling of what is not an ordinary fault: SIGBUS signals that are not
// Aether's reaching the sigbus-mode handler, and a handler thread that cannot work. Each case runs
// in a forked child (signal dispositions and process death are what is checked), on a real window,
// and the parent waits for it within a bound: a hang is a failure, never a stuck test.
#include <catch2/catch.hpp>

#include "aether/internal/address.hpp"
#include "fault/fault_sink.hpp"
#include "fault/handler_pool.hpp"
#include "fault/sigbus_mode.hpp"
#include "fault/window.hpp"
#include "tests/unit/seccomp_errno.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <memory>
#include <string>

namespace {

using namespace aether;

// How the child ended, as the parent saw it.
struct child_end {
    bool timed_out = false;
    bool exited = false;
    int code = -1;  // exit status, if it exited
    int signal = 0; // terminating signal, if a signal killed it
};

// Exit codes of the children, for the parent's message.
enum : int {
    ok = 0,
    no_window = 10,
    no_install = 11,
    handler_replaced = 12,
    fault_not_served = 13,
    survived = 14,
    app_handler_not_called = 15,
    no_error = 16,
    wrong_error = 17,
    setup_failed = 18,
};

std::string describe(const child_end& e) {
    if (e.timed_out) return "the child hung (killed after the limit)";
    if (!e.exited) return std::string("the child was killed by ") + ::strsignal(e.signal);
    switch (e.code) {
    case ok: return "the child exited normally";
    case no_window: return "the child could not create a window";
    case no_install: return "the child could not install sigbus mode";
    case handler_replaced: return "Aether's SIGBUS handler was replaced";
    case fault_not_served: return "a window fault was not served by Aether's handler";
    case survived: return "the child survived what should have ended it";
    case app_handler_not_called: return "the application's SIGBUS handler was not called";
    case no_error: return "the handler pool started without its eventfd";
    case wrong_error: return "the handler pool's start failed with another errno than EMFILE";
    case setup_failed: return "the child's set-up failed (seccomp, dup2)";
    default: return "the child exited with " + std::to_string(e.code);
    }
}

// Runs `body` in a child process and waits for it at most `limit_ms`. The child's return value is
// its exit status; it never returns into Catch2.
template <class Body>
child_end in_child(Body body, int limit_ms = 10000) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Catch2's handlers for fatal signals would report from the child: the child's death is
        // what the parent checks, so it dies as a plain process would.
        for (int sig : {SIGILL, SIGFPE, SIGSEGV, SIGABRT, SIGTERM, SIGINT}) ::signal(sig, SIG_DFL);
        // A SIGBUS death must not spend time writing a core of the process.
        rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        ::_exit(body());
    }
    child_end end;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
    int status = 0;
    for (;;) {
        pid_t got = ::waitpid(pid, &status, WNOHANG);
        if (got < 0) FAIL("waitpid: " << std::strerror(errno));
        if (got == pid) break;
        if (std::chrono::steady_clock::now() >= until) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            end.timed_out = true;
            return end;
        }
        ::usleep(10000);
    }
    end.exited = WIFEXITED(status);
    if (end.exited) end.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) end.signal = WTERMSIG(status);
    return end;
}

// A sink that serves every fault with a writable zero page, or refuses every store (the outcome
// of a store to unreachable memory), counting the calls. Signal-safe: one ioctl, no allocation.
struct zero_sink final : fault::fault_sink {
    explicit zero_sink(fault::window& w, bool refuse_stores = false)
        : w_(w),
          refuse_stores_(refuse_stores) {}
    fault::fault_outcome resolve(const fault::fault_event& e) noexcept override {
        calls.fetch_add(1, std::memory_order_relaxed);
        if (refuse_stores_ && e.write) return fault::fault_outcome::raise_sigbus;
        w_.install(page_floor(e.address), zeros, true);
        return fault::fault_outcome::resolved;
    }
    fault::window& w_;
    bool refuse_stores_;
    std::atomic<int> calls{0};
    alignas(4096) static inline const std::uint8_t zeros[page_size] = {};
};

// From now on eventfd() fails with `err` in this process, and nothing else does. (Running out of
// descriptors would fail it too, but also the sanitizers' own checks, which need a pipe.)
bool fail_eventfd_with(int err) { return test::fail_syscalls_with({__NR_eventfd2, __NR_eventfd}, err); }

// What the child sets up before Aether installs its handler.
enum class previous { ignore, ignore_siginfo, deflt, deflt_siginfo, app_handler, app_siginfo_handler };

volatile sig_atomic_t g_app_calls = 0;
void app_handler(int) { g_app_calls = g_app_calls + 1; }
void app_siginfo_handler(int, siginfo_t*, void*) { g_app_calls = g_app_calls + 1; }

void set_previous(previous p) {
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    switch (p) {
    case previous::ignore: sa.sa_handler = SIG_IGN; break;
    // The kernel keeps SA_SIGINFO with SIG_IGN / SIG_DFL: the union then reads as a "sa_sigaction"
    // of 1 or 0, which is not a function.
    case previous::ignore_siginfo:
        sa.sa_handler = SIG_IGN;
        sa.sa_flags = SA_SIGINFO;
        break;
    case previous::deflt: sa.sa_handler = SIG_DFL; break;
    case previous::deflt_siginfo:
        sa.sa_handler = SIG_DFL;
        sa.sa_flags = SA_SIGINFO;
        break;
    case previous::app_handler: sa.sa_handler = app_handler; break;
    case previous::app_siginfo_handler:
        sa.sa_sigaction = app_siginfo_handler;
        sa.sa_flags = SA_SIGINFO;
        break;
    }
    ::sigaction(SIGBUS, &sa, nullptr);
}

// The current SIGBUS handler, as a comparable value.
void* current_handler() {
    struct sigaction cur {};
    ::sigaction(SIGBUS, nullptr, &cur);
    return reinterpret_cast<void*>(cur.sa_sigaction);
}

// In the child: sets the previous disposition, opens a window in sigbus mode whose sink serves
// zero pages (or refuses stores: `refuse_stores`), then returns what `then(sink)` returns; or why
// the set-up failed.
template <class Then>
int with_sigbus_window(previous p, bool refuse_stores, Then then) {
    set_previous(p);
    auto w = fault::window::create(1, fault::fault_mode::sigbus);
    if (!w) return no_window;
    zero_sink sink(**w, refuse_stores);
    if (!fault::install_sigbus_mode(**w, sink)) return no_install;
    return then(sink);
}

// In the child: sends this process a SIGBUS that is not a window fault. Returns if the process
// survived it, with Aether's handler still in place and serving a genuine window fault.
int survive_foreign_sigbus(previous p) {
    return with_sigbus_window(p, false, [p](zero_sink& sink) {
        void* ours = current_handler();

        ::kill(::getpid(), SIGBUS); // delivered to this thread before kill() returns

        if (current_handler() != ours) return int{handler_replaced};
        // A genuine fault after it: served by Aether (had its handler gone, this would kill us).
        if (*reinterpret_cast<volatile std::uint64_t*>(window_base + 8) != 0 || sink.calls.load() != 1)
            return int{fault_not_served};
        if ((p == previous::app_handler || p == previous::app_siginfo_handler) && g_app_calls != 1)
            return int{app_handler_not_called};
        fault::uninstall_sigbus_mode();
        return int{ok};
    });
}

// In the child: the same SIGBUS, but with the default action: the process must die of it.
int die_of_foreign_sigbus(previous p) {
    return with_sigbus_window(p, false, [](zero_sink&) {
        ::kill(::getpid(), SIGBUS);
        return int{survived};
    });
}

// In the child: a store to the window that the sink refuses. Nobody catches SIGBUS, so the store
// kills the process, whatever the disposition said (the kernel does not let a fault be ignored).
int die_of_refused_store(previous p) {
    return with_sigbus_window(p, true, [](zero_sink&) {
        *reinterpret_cast<volatile std::uint64_t*>(window_base + 16) = 1;
        return int{survived};
    });
}

// Runs `body` in a child and checks that it exited with `ok`.
template <class Body>
void check_exits_ok(Body body) {
    child_end e = in_child(body);
    INFO(describe(e));
    CHECK((e.exited && e.code == ok));
}

// Runs `body` in a child and checks that `sig` killed it (before the limit).
template <class Body>
void check_killed_by(int sig, Body body) {
    child_end e = in_child(body);
    INFO(describe(e));
    CHECK((!e.exited && !e.timed_out && e.signal == sig));
}

} // namespace

TEST_CASE("a SIGBUS that is not Aether's and was ignored is dropped; the handler stays", "[sigbus]") {
    SECTION("SIG_IGN") {
        check_exits_ok([] { return survive_foreign_sigbus(previous::ignore); });
    }
    SECTION("SIG_IGN with SA_SIGINFO") {
        check_exits_ok([] { return survive_foreign_sigbus(previous::ignore_siginfo); });
    }
}

TEST_CASE("a SIGBUS that is not Aether's goes to the application's handler; ours stays", "[sigbus]") {
    SECTION("sa_handler") {
        check_exits_ok([] { return survive_foreign_sigbus(previous::app_handler); });
    }
    SECTION("sa_sigaction") {
        check_exits_ok([] { return survive_foreign_sigbus(previous::app_siginfo_handler); });
    }
}

TEST_CASE("a SIGBUS sent by a process with the default action kills the process", "[sigbus]") {
    SECTION("SIG_DFL") {
        check_killed_by(SIGBUS, [] { return die_of_foreign_sigbus(previous::deflt); });
    }
    SECTION("SIG_DFL with SA_SIGINFO") {
        check_killed_by(SIGBUS, [] { return die_of_foreign_sigbus(previous::deflt_siginfo); });
    }
}

TEST_CASE("a store that cannot be served kills the process when nobody catches SIGBUS", "[sigbus]") {
    for (previous p : {previous::deflt, previous::ignore}) {
        SECTION(p == previous::deflt ? "SIG_DFL" : "SIG_IGN") {
            check_killed_by(SIGBUS, [p] { return die_of_refused_store(p); });
        }
    }
}

TEST_CASE("a handler pool without its stop eventfd fails to start instead of hanging in stop()", "[handler]") {
    check_exits_ok([] {
        auto w = fault::window::create(1, fault::fault_mode::handler);
        if (!w) return int{no_window};
        zero_sink sink(**w);
        if (!fail_eventfd_with(EMFILE)) return int{setup_failed};
        auto pool = fault::handler_pool::start(**w, sink, fault::handler_pool::options{});
        if (pool) return int{no_error};
        return pool.error().code == EMFILE ? int{ok} : int{wrong_error};
    });
}

TEST_CASE("a handler thread that cannot read its userfaultfd aborts instead of leaving faults unserved", "[handler]") {
    check_killed_by(SIGABRT, [] {
        auto w = fault::window::create(1, fault::fault_mode::handler);
        if (!w) return int{no_window};
        zero_sink sink(**w);
        // The userfaultfd's number now names a directory: read() fails with EISDIR, an error that
        // no retry can cure.
        const int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0 || ::dup2(dir, (*w)->uffd()) < 0) return int{setup_failed};
        ::close(dir);
        auto pool = fault::handler_pool::start(**w, sink, fault::handler_pool::options{});
        if (!pool) return int{setup_failed};
        ::usleep(500 * 1000);
        (*pool)->stop();
        return int{survived};
    });
}
