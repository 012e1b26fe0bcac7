// io_ring: an io_uring owned by one thread, with the few helpers the transport needs.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/clock.hpp"

#include <liburing.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

namespace aether {

class io_ring {
public:
    // Prefers SINGLE_ISSUER | DEFER_TASKRUN (completions run only when this thread waits), falls back
    // to a plain ring on kernels without them. Must be called on the thread that will use it.
    static int create(io_ring& out, unsigned entries) noexcept;

    io_ring() = default;
    io_ring(const io_ring&) = delete;
    io_ring& operator=(const io_ring&) = delete;
    ~io_ring();

    [[nodiscard]] bool valid() const noexcept { return valid_; }
    io_uring* get() noexcept { return &ring_; }
    // A free SQE, submitting queued ones first if the SQ is full.
    io_uring_sqe* sqe() noexcept;
    // Polls for a CQE for up to `poll_ns`; true if one is ready. A completion that comes quickly is
    // taken without the sleep and wake-up (20-35 us across CPUs here). Each polling round yields
    // the CPU, so a peer that shares this CPU (pinned placement) runs instead of waiting.
    bool poll_for_completion(std::uint64_t poll_ns) noexcept;
    // Waits for the CQE with the given user_data and returns its res; other CQEs are consumed and
    // dropped (the caller owns the ring and has only its own operations in flight). At `dl` returns
    // -ETIME, after canceling the operation and reaping it, so its buffers are no longer written to
    // once this returns.
    int wait_for(std::uint64_t user_data, deadline dl) noexcept;
    // Cancels every operation in flight with this user_data and reaps the completions.
    void cancel_and_reap(std::uint64_t user_data) noexcept;

private:
    // Submits and waits for at least one CQE, or until `dl` (returns -ETIME). -EINTR is retried.
    int submit_and_wait(deadline dl) noexcept;

    io_uring ring_{};
    bool valid_ = false;
};

// A direct sendmsg that never blocks (MSG_DONTWAIT | MSG_NOSIGNAL), for a socket with no send in
// flight: returns the bytes sent, 0 if the socket took nothing now (its buffer is full, or the call
// was interrupted), or -errno.
ssize_t send_nowait(int fd, const iovec* iov, int cnt) noexcept;

} // namespace aether
