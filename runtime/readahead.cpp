// The readahead buffers: one anonymous mapping, backed only where a reply has landed.
#include "runtime/readahead.hpp"

#include <sys/mman.h>

#include <new>

namespace aether {

readahead_buffers::readahead_buffers(std::size_t count, std::size_t bytes_each)
    : count_(std::min(count, max_count)), bytes_each_(bytes_each), stride_((bytes_each + page_size - 1) & ~(page_size - 1)) {
    void* p = ::mmap(nullptr, count_ * stride_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<std::byte*>(p);
}

readahead_buffers::~readahead_buffers() { ::munmap(base_, count_ * stride_); }

} // namespace aether
