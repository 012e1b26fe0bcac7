// handler_thread: the default fault mode. One thread reads userfaultfd messages and resolves each
// fault; because the kernel queues faults raised inside system calls too, read()/write()/recv()
// into Aether memory work in unmodified programs.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/fd.hpp"
#include "aether/internal/thread_priority.hpp"
#include "fault/fault_sink.hpp"
#include "fault/window.hpp"

#include <atomic>
#include <cstdint>
#include <thread>

struct uffd_msg; // <linux/userfaultfd.h>, kept out of this header

namespace aether::fault {

class handler_thread {
public:
    // `spin_ns`: how long to poll for the next fault before sleeping (0: sleep at once). Throws
    // std::system_error if it cannot open the eventfd that stop() needs to wake the thread.
    handler_thread(window& w, fault_sink& sink, std::uint64_t spin_ns, thread_priority priority);
    ~handler_thread();
    handler_thread(const handler_thread&) = delete;
    handler_thread& operator=(const handler_thread&) = delete;

    void start();
    void stop() noexcept;
    [[nodiscard]] pid_t tid() const noexcept { return tid_.load(std::memory_order_acquire); }

private:
    void run() noexcept;
    void handle(const ::uffd_msg* msgs, int n) noexcept;

    window& window_;
    fault_sink& sink_;
    std::uint64_t spin_ns_;
    thread_priority priority_;
    unique_fd stop_fd_;
    std::atomic<bool> stopping_{false};
    std::atomic<pid_t> tid_{0};
    std::thread thread_;
};

// Queues SIGBUS to one thread of this process, as a failed store raises it: si_addr is the
// address, si_code is SI_QUEUE (a kernel code such as BUS_ADRERR cannot be sent from another
// thread). Returns 0 or -errno.
int send_sigbus(pid_t tid, std::uint64_t addr) noexcept;

} // namespace aether::fault
