// mapped_array: a zero-filled array of per-page metadata whose memory is committed only where it
// is touched (MAP_NORESERVE), so describing 4 GiB of pages costs nothing until they are used.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace aether {

template <class T>
class mapped_array {
    // Zero bytes must be a valid T: the memory comes straight from the kernel, zero-filled.
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>);

public:
    mapped_array() = default;
    explicit mapped_array(std::size_t n)
        : size_(n) {
        if (n == 0) return;
        void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        ::madvise(p, bytes(), MADV_DONTFORK);
        data_ = static_cast<T*>(p);
    }
    mapped_array(mapped_array&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)),
          size_(std::exchange(o.size_, 0)) {}
    mapped_array& operator=(mapped_array&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~mapped_array() { release(); }

    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    T* data() noexcept { return data_; }
    // Zeroes elements [first, first + count): the whole pages among them are handed back to the
    // kernel (they read as zero again and cost no memory), the rest written.
    void zero(std::size_t first, std::size_t count) noexcept {
        if (first >= size_) return;
        count = std::min(count, size_ - first);
        auto* begin = reinterpret_cast<std::byte*>(data_ + first);
        auto* end = reinterpret_cast<std::byte*>(data_ + first + count);
        auto* whole_begin = reinterpret_cast<std::byte*>(page_ceil(reinterpret_cast<std::uint64_t>(begin)));
        auto* whole_end = reinterpret_cast<std::byte*>(page_floor(reinterpret_cast<std::uint64_t>(end)));
        if (whole_begin >= whole_end) {
            std::memset(begin, 0, static_cast<std::size_t>(end - begin));
            return;
        }
        std::memset(begin, 0, static_cast<std::size_t>(whole_begin - begin));
        ::madvise(whole_begin, static_cast<std::size_t>(whole_end - whole_begin), MADV_DONTNEED);
        std::memset(whole_end, 0, static_cast<std::size_t>(end - whole_end));
    }

private:
    std::size_t bytes() const noexcept { return page_ceil(size_ * sizeof(T)); }
    void release() noexcept {
        if (data_) ::munmap(data_, bytes());
        data_ = nullptr;
        size_ = 0;
    }
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace aether
