// Frame reassembly over a linear buffer that is compacted lazily.
#include "transport/frame_reader.hpp"

#include <cstring>

namespace aether::wire {

frame_reader::frame_reader(std::size_t capacity)
    : buf_(capacity) {}

std::span<std::byte> frame_reader::writable() noexcept {
    // Compact only when the tail is too short for a whole frame, so a frame never wraps.
    if (buf_.size() - end_ < header_size + max_payload || begin_ == end_) compact();
    return {buf_.data() + end_, buf_.size() - end_};
}

void frame_reader::commit(std::size_t n) noexcept { end_ += n; }

void frame_reader::compact() noexcept {
    if (begin_ == 0) return;
    std::size_t live = end_ - begin_;
    if (live) std::memmove(buf_.data(), buf_.data() + begin_, live);
    begin_ = 0;
    end_ = live;
}

frame_reader::status frame_reader::next(frame_view& out) noexcept {
    if (end_ - begin_ < header_size) return status::need_more;
    frame_header h;
    std::memcpy(&h, buf_.data() + begin_, header_size);
    error_ = check_header(h);
    if (error_ != header_check::ok) return status::bad_header;
    if (end_ - begin_ < header_size + h.payload_length) return status::need_more;
    out.header = h;
    out.payload = {buf_.data() + begin_ + header_size, h.payload_length};
    begin_ += header_size + h.payload_length;
    return status::frame;
}

} // namespace aether::wire
