// Reassembles frames from a TCP byte stream, whatever the segmentation (down to one byte at a time).
#pragma once
#include "aether/internal/guard.hpp"

#include "transport/wire.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace aether::wire {

struct frame_view {
    frame_header header;
    std::span<std::byte> payload; // valid until the next call to next() or writable()
};

class frame_reader {
public:
    explicit frame_reader(std::size_t capacity = header_size + max_payload);

    // Space to receive into, and how much of it was filled.
    std::span<std::byte> writable() noexcept;
    void commit(std::size_t n) noexcept;

    enum class status { frame, need_more, bad_header };
    // Extracts the next complete frame. On bad_header the stream is unusable: close the connection.
    status next(frame_view& out) noexcept;
    [[nodiscard]] header_check last_error() const noexcept { return error_; }
    [[nodiscard]] std::size_t buffered() const noexcept { return end_ - begin_; }

private:
    void compact() noexcept;

    std::vector<std::byte> buf_;
    std::size_t begin_ = 0; // first unconsumed byte
    std::size_t end_ = 0;   // one past the last received byte
    header_check error_ = header_check::ok;
};

} // namespace aether::wire
