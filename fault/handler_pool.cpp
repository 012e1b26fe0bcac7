// The fault-handler pool: read, resolve and answer every fault, handing the reading to another
// thread whenever the reader must wait.
#include "fault/handler_pool.hpp"

#include "aether/internal/clock.hpp"
#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "aether/internal/sync.hpp"

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

namespace aether::fault {

namespace {

// Whether the calling thread holds the reader role (each handler thread's own view).
thread_local bool tl_reader = false;
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

handler_pool::handler_pool(window& w, fault_sink& sink, options opts, unique_fd stop_fd)
    : window_(w),
      sink_(sink),
      opt_(opts),
      stop_fd_(std::move(stop_fd)) {
    if (opt_.max_threads == 0) opt_.max_threads = 1;
    tids_.reset(new std::atomic<pid_t>[opt_.max_threads]);
    for (unsigned i = 0; i < opt_.max_threads; ++i) tids_[i].store(0, std::memory_order_relaxed);
    threads_.reserve(opt_.max_threads);
}

handler_pool::~handler_pool() { stop(); }

setup_result<std::unique_ptr<handler_pool>> handler_pool::start(window& w, fault_sink& sink, options opts) {
    // The eventfd by which stop() wakes the reader out of poll(). Without it stop() would wait
    // forever for a sleeping thread.
    unique_fd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (stop_fd.get() < 0) return setup_error::from_errno(errno, {"cannot open the fault handler's stop eventfd"});
    std::unique_ptr<handler_pool> pool(new handler_pool(w, sink, opts, std::move(stop_fd)));
    if (!pool->spawn()) return setup_error{"cannot start the fault handler thread", EAGAIN};
    // The runtime must know a handler's tid before any fault can arrive (to spot self-faults).
    while (pool->tids_[0].load(std::memory_order_acquire) == 0) std::this_thread::yield();
    return pool;
}

bool handler_pool::spawn() noexcept {
    std::lock_guard lock(threads_mu_);
    if (stopping_.load(std::memory_order_acquire) || threads_.size() >= opt_.max_threads) return false;
    const auto index = static_cast<unsigned>(threads_.size());
    try {
        threads_.emplace_back([this, index] { run(index); });
    } catch (const std::exception&) {
        return false; // out of threads: the reader keeps reading, and faults wait their turn
    }
    started_.store(index + 1, std::memory_order_release);
    return true;
}

void handler_pool::stop() noexcept {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(threads_mu_);
        if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
        threads.swap(threads_);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one); // the reader, in poll()
    std::atomic_ref<std::uint32_t>(wake_seq_).fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(wake_seq_); // the parked ones
    for (auto& t : threads) t.join();
}

bool handler_pool::is_handler(pid_t tid) const noexcept {
    for (unsigned i = 0; i < opt_.max_threads; ++i)
        if (tids_[i].load(std::memory_order_relaxed) == tid) return true;
    return false;
}

bool handler_pool::take_reader() noexcept {
    if (tl_reader) return true; // still holds it
    bool expected = false;
    tl_reader = reader_taken_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
    return tl_reader;
}

void handler_pool::park() noexcept {
    parked_.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seq = std::atomic_ref<std::uint32_t>(wake_seq_).load(std::memory_order_acquire);
    // Looked at after counting itself parked: a reader that let go of the role before saw this
    // thread parked and wakes it, or this thread sees the role free now (no lost wake-up).
    if (reader_taken_.load(std::memory_order_seq_cst) && !stopping_.load(std::memory_order_acquire))
        ::syscall(SYS_futex, &wake_seq_, FUTEX_WAIT_PRIVATE, seq, nullptr, nullptr, 0);
    parked_.fetch_sub(1, std::memory_order_relaxed);
}

void handler_pool::about_to_block() noexcept {
    if (!tl_reader) return; // it handed the reading over already, in an earlier wait of this fault
    tl_reader = false;
    reader_taken_.store(false, std::memory_order_seq_cst);
    handovers_.fetch_add(1, std::memory_order_relaxed);
    if (parked_.load(std::memory_order_seq_cst) > 0) {
        std::atomic_ref<std::uint32_t>(wake_seq_).fetch_add(1, std::memory_order_acq_rel);
        ::syscall(SYS_futex, &wake_seq_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    } else {
        (void)spawn(); // at the limit, the next reader is whoever finishes first
    }
}

void handler_pool::handle(const uffd_msg& m) noexcept {
    if (m.event != UFFD_EVENT_PAGEFAULT) return;
    const std::uint64_t page = page_floor(m.arg.pagefault.address);
    const bool write = (m.arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
    // Several threads faulting on one page queue one message each. Each goes to the sink: the
    // first one fetches, the others find the page present at once (one fetch in all), and each
    // thread whose load ends on a VOID page gets the reason in its own context.
    const pid_t tid = static_cast<pid_t>(m.arg.pagefault.feat.ptid);
    if (is_handler(tid)) {
        // A handler faulted on the window itself: it would wait for itself forever.
        log::fault().critical("a fault handler touched window page {:#x} that is not present", page);
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

void handler_pool::run(unsigned index) noexcept {
    runtime_scope whole_thread;
    pthread_setname_np(pthread_self(), "aether-fault");
    apply_thread_priority(opt_.priority);
    tids_[index].store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_release);
    tl_blocking_observer = this;
    const int uffd = window_.uffd();
    while (!stopping_.load(std::memory_order_acquire)) {
        if (!take_reader()) {
            park();
            continue;
        }
        // One message at a time: a message read is this thread's to resolve, and one that waited
        // behind a fault this thread then blocked in would be held up with it.
        uffd_msg msg;
        ssize_t got = ::read(uffd, &msg, sizeof msg);
        if (got == static_cast<ssize_t>(sizeof msg)) {
            handle(msg);
            continue; // still the reader, or (after blocking) back to take the role or park
        }
        if (got < 0 && errno != EAGAIN && errno != EINTR) {
            // No fault can be resolved any more: every thread that touches a missing window page
            // would sleep in it forever. End the process instead, loudly. (errno is read first: the
            // logger's first use may change it.)
            const int e = errno;
            log::fault().critical("reading userfaultfd failed: {}; no fault can be served", std::strerror(e));
            std::abort();
        }
        // Nothing queued: faults come first, then background work, then polling and sleep. The
        // reader keeps the reading through a background step (a batch asked for ahead of a scan,
        // arriving): the scan's next fault waits for the step, rather than fetching the pages
        // the step is about to install.
        tl_blocking_observer = nullptr;
        const bool more = sink_.background();
        tl_blocking_observer = this;
        if (more) continue;
        // Poll briefly (a fault often follows a fault), then sleep.
        if (opt_.spin_ns > 0) {
            const std::uint64_t until = now_ns() + opt_.spin_ns;
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
    tl_blocking_observer = nullptr;
    if (tl_reader) {
        tl_reader = false;
        reader_taken_.store(false, std::memory_order_release);
    }
}

} // namespace aether::fault
