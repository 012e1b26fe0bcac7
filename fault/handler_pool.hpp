// handler_pool: the default fault mode. Handler threads read userfaultfd messages and resolve each
// fault; because the kernel queues faults raised inside system calls too, read()/write()/recv()
// into Aether memory work in unmodified programs.
//
// One thread at a time is the reader: it reads the userfaultfd and resolves what it read, on
// itself (the faulting thread's two hand-offs, no more). A fault that must wait (a slow or
// unreachable node, a page another thread is fetching, the block policy) would hold up every
// fault behind it, so a reader about to block hands the reading to another thread first (see
// aether/internal/blocking.hpp): a parked one, or a new one up to `max_threads`. A fault answered
// within the requester's short poll never blocks and never hands over.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/blocking.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/result.hpp"
#include "aether/internal/thread_priority.hpp"
#include "fault/fault_sink.hpp"
#include "fault/window.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct uffd_msg; // <linux/userfaultfd.h>, kept out of this header

namespace aether::fault {

class handler_pool final : private blocking_observer {
public:
    struct options {
        std::uint64_t spin_ns = 0; // the reader polls this long for the next fault before sleeping
        thread_priority priority = thread_priority::normal;
        unsigned max_threads = 8; // 1: one thread, faults served strictly in turn
    };
    // A pool serving `w`'s faults with its first thread running (its tid known, so that the
    // runtime can spot faults of its own threads), or why it cannot be: the eventfd that stop()
    // needs to wake the reader, or the first thread.
    static setup_result<std::unique_ptr<handler_pool>> start(window& w, fault_sink& sink, options opts);
    ~handler_pool();
    handler_pool(const handler_pool&) = delete;
    handler_pool& operator=(const handler_pool&) = delete;

    void stop() noexcept;
    // Threads started so far, and how often a reader about to block handed the reading over.
    [[nodiscard]] unsigned threads() const noexcept { return started_.load(std::memory_order_acquire); }
    [[nodiscard]] std::uint64_t handovers() const noexcept { return handovers_.load(std::memory_order_relaxed); }

private:
    handler_pool(window& w, fault_sink& sink, options opts, unique_fd stop_fd);
    void run(unsigned index) noexcept;
    void handle(const ::uffd_msg& m) noexcept;
    // The reader role. take_reader: true if the calling thread now holds it.
    bool take_reader() noexcept;
    // Sleeps until the role may be free (or stop).
    void park() noexcept;
    // blocking_observer: the reader hands the reading to another thread before it blocks.
    void about_to_block() noexcept override;
    // Starts thread `index`; false when none can be started.
    bool spawn() noexcept;
    [[nodiscard]] bool is_handler(pid_t tid) const noexcept;

    window& window_;
    fault_sink& sink_;
    options opt_;
    unique_fd stop_fd_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> reader_taken_{false};
    std::uint32_t wake_seq_ = 0; // futex word the parked threads sleep on
    std::atomic<unsigned> parked_{0};
    std::atomic<unsigned> started_{0};
    std::atomic<std::uint64_t> handovers_{0};
    std::unique_ptr<std::atomic<pid_t>[]> tids_; // one per thread slot: a fault by one of them is a bug
    std::mutex threads_mu_;
    std::vector<std::thread> threads_;
};

// Queues SIGBUS to one thread of this process, as a failed store raises it: si_addr is the
// address, si_code is SI_QUEUE (a kernel code such as BUS_ADRERR cannot be sent from another
// thread). Returns 0 or -errno.
int send_sigbus(pid_t tid, std::uint64_t addr) noexcept;

} // namespace aether::fault
