// The fault-handler thread: read, deduplicate, resolve, and answer every fault.
#include "fault/handler_thread.hpp"

#include "aether/internal/clock.hpp"
#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace aether::fault {

namespace {
constexpr int batch = 64;

// The eventfd by which stop() wakes the thread out of poll(). Without it stop() would wait forever
// for a sleeping thread, so failing to open it fails the construction (the runtime's start
// reports the exception as a failed start).
unique_fd open_stop_fd() {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "cannot open the fault handler's stop eventfd");
    return unique_fd(fd);
}
} // namespace

int send_sigbus(pid_t tid, std::uint64_t addr) noexcept {
    // Only the kernel (or a process's main thread signalling itself) may send a kernel si_code
    // such as BUS_ADRERR; from this thread the signal must carry a user code. SI_QUEUE is one,
    // and the kernel delivers the rest of the siginfo as given, so si_addr still names the
    // address of the failed store.
    siginfo_t info{};
    info.si_signo = SIGBUS;
    info.si_code = SI_QUEUE;
    info.si_addr = reinterpret_cast<void*>(addr);
    if (::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, SIGBUS, &info) == 0) return 0;
    return -errno;
}

handler_thread::handler_thread(window& w, fault_sink& sink, std::uint64_t spin_ns, thread_priority priority)
    : window_(w), sink_(sink), spin_ns_(spin_ns), priority_(priority), stop_fd_(open_stop_fd()) {}

handler_thread::~handler_thread() { stop(); }

void handler_thread::start() {
    thread_ = std::thread([this] { run(); });
    // The runtime must know the handler's tid before any fault can arrive (to spot self-faults).
    while (tid_.load(std::memory_order_acquire) == 0) std::this_thread::yield();
}

void handler_thread::stop() noexcept {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
}

void handler_thread::handle(const uffd_msg* msgs, int n) noexcept {
    for (int i = 0; i < n; ++i) {
        const uffd_msg& m = msgs[i];
        if (m.event != UFFD_EVENT_PAGEFAULT) continue;
        const std::uint64_t page = page_floor(m.arg.pagefault.address);
        const bool write = (m.arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
        // Several threads faulting on one page queue one message each. Each goes to the sink: the
        // first one fetches, the others find the page present at once (one fetch in all), and each
        // thread whose load ends on a VOID page gets the reason in its own context.
        const pid_t tid = static_cast<pid_t>(m.arg.pagefault.feat.ptid);
        if (tid == tid_.load(std::memory_order_relaxed)) {
            // The handler faulted on the window itself: it would wait for itself forever.
            log::fault().critical("the fault handler touched window page {:#x} that is not present", page);
            std::abort();
        }
        fault_outcome out = sink_.resolve(fault_event{m.arg.pagefault.address, write, tid});
        if (out == fault_outcome::raise_sigbus) {
            if (int e = send_sigbus(tid, m.arg.pagefault.address); e < 0)
                log::fault().error("cannot raise SIGBUS in thread {}: {}", tid, std::strerror(-e));
        }
        // Resolved: installing a page or lifting write protection wakes the waiters, but a fault
        // another thread resolved first still needs its own waiters woken. SIGBUS: the signal
        // wakes the thread out of its fault, but if it is blocked the thread must still retry
        // instead of sleeping on.
        window_.wake(page);
    }
}

void handler_thread::run() noexcept {
    runtime_scope whole_thread;
    pthread_setname_np(pthread_self(), "aether-fault");
    apply_thread_priority(priority_);
    tid_.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_release);
    uffd_msg msgs[batch];
    const int uffd = window_.uffd();
    while (!stopping_.load(std::memory_order_acquire)) {
        ssize_t got = ::read(uffd, msgs, sizeof msgs);
        if (got > 0) {
            int n = static_cast<int>(got / static_cast<ssize_t>(sizeof(uffd_msg)));
            handle(msgs, n);
            continue;
        }
        if (got < 0 && errno != EAGAIN && errno != EINTR) {
            // No fault can be resolved any more: every thread that touches a missing window page
            // would sleep in it forever. End the process instead, loudly. (errno is read first: the
            // logger's first use may change it.)
            const int e = errno;
            log::fault().critical("reading userfaultfd failed: {}; no fault can be served", std::strerror(e));
            std::abort();
        }
        // Nothing queued: faults come first, then background work, then polling and sleep.
        if (sink_.background()) continue;
        // Poll briefly (a fault often follows a fault), then sleep.
        if (spin_ns_ > 0) {
            const std::uint64_t until = now_ns() + spin_ns_;
            bool ready = false;
            while (!ready && now_ns() < until) {
                pollfd p{uffd, POLLIN, 0};
                ready = ::poll(&p, 1, 0) > 0;
            }
            if (ready) continue;
        }
        pollfd p[2] = {{uffd, POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
        ::poll(p, 2, -1);
    }
}

} // namespace aether::fault
