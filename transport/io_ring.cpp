// io_uring set-up, the synchronous wait helpers used by calling threads, and the direct send.
#include "transport/io_ring.hpp"

#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace aether {

namespace {

// A ring's memory is mapped from the kernel. When a thread ends its ring goes, and the next
// thread's ring may be mapped at the same addresses. The counter orders the two: a ring's end
// (release) happens before any later ring's start (acquire), as the munmap and mmap between them
// do; without it, ThreadSanitizer, which does not see the ring's mappings, takes the two threads'
// writes to their own rings for a race.
std::atomic<std::uint64_t> rings_ended{0};

} // namespace

int io_ring::create(io_ring& out, unsigned entries) noexcept {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = entries * 4;
    int rc = io_uring_queue_init_params(entries, &out.ring_, &p);
    if (rc == -EINVAL) {
        p = io_uring_params{};
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        rc = io_uring_queue_init_params(entries, &out.ring_, &p);
    }
    if (rc < 0) return rc;
    (void)rings_ended.load(std::memory_order_acquire);
    // The ring must not be shared with a forked child (its threads do not exist there).
    io_uring_ring_dontfork(&out.ring_);
    // Every io_uring_enter then skips looking up the ring's file (best effort).
    (void)io_uring_register_ring_fd(&out.ring_);
    out.valid_ = true;
    return 0;
}

io_ring::~io_ring() {
    if (!valid_) return;
    rings_ended.fetch_add(1, std::memory_order_release);
    io_uring_queue_exit(&ring_);
}

io_uring_sqe* io_ring::sqe() noexcept {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (s == nullptr) {
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    return s;
}

bool io_ring::poll_for_completion(std::uint64_t poll_ns) noexcept {
    if (io_uring_cq_ready(&ring_) > 0) return true;
    if (poll_ns == 0) return false;
    io_uring_submit(&ring_);
    const std::uint64_t until = now_ns() + poll_ns;
    do {
        // With DEFER_TASKRUN a completion is posted only when this thread enters the kernel.
        io_uring_get_events(&ring_);
        if (io_uring_cq_ready(&ring_) > 0) return true;
        sched_yield();
    } while (now_ns() < until);
    return false;
}

int io_ring::submit_and_wait(deadline dl) noexcept {
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        int rc;
        if (dl.ns() == UINT64_MAX) {
            rc = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts = dl.remaining_timespec();
            rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        }
        if (rc == -EINTR) continue;
        if (rc == -ETIME) {
            // The wait timed out, but completions may have arrived at the same moment.
            if (io_uring_peek_cqe(&ring_, &cqe) == 0) return 0;
            return -ETIME;
        }
        return rc < 0 ? rc : 0;
    }
}

int io_ring::wait_for(std::uint64_t user_data, deadline dl) noexcept {
    int res = 0;
    bool done = false;
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
            if (cqe->user_data == user_data) {
                res = cqe->res;
                done = true;
            }
            io_uring_cqe_seen(&ring_, cqe);
        }
        if (done) return res;
        int rc = submit_and_wait(dl);
        if (rc == -ETIME) {
            cancel_and_reap(user_data);
            return -ETIME;
        }
        if (rc < 0) return rc;
    }
}

void io_ring::cancel_and_reap(std::uint64_t user_data) noexcept {
    constexpr std::uint64_t cancel_tag = ~std::uint64_t{0};
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, user_data, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(s, cancel_tag);
    int cancel_res = 1;
    bool cancel_done = false;
    bool target_done = false;
    // Until the cancel completes we do not know whether the target was still in flight; after it,
    // a result of 0 (CANCEL_ALL found nothing) means the target had already completed, so its
    // buffers are no longer written to (a CQE of it still queued is dropped by later waits).
    while (!cancel_done || (!target_done && cancel_res != 0 && cancel_res != -ENOENT)) {
        io_uring_cqe* cqe = nullptr;
        if (io_uring_peek_cqe(&ring_, &cqe) != 0) {
            int rc = io_uring_submit_and_wait(&ring_, 1);
            if (rc < 0 && rc != -EINTR) return;
            continue;
        }
        if (cqe->user_data == cancel_tag) {
            cancel_done = true;
            cancel_res = cqe->res;
        } else if (cqe->user_data == user_data) {
            target_done = true;
        }
        io_uring_cqe_seen(&ring_, cqe);
    }
}

ssize_t send_nowait(int fd, const iovec* iov, int cnt) noexcept {
    msghdr mh{};
    mh.msg_iov = const_cast<iovec*>(iov);
    mh.msg_iovlen = static_cast<std::size_t>(cnt);
    ssize_t n = ::sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    return -errno;
}

} // namespace aether
