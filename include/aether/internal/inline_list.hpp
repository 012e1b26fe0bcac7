// inline_list: a short list kept inside the object, so building it allocates nothing until it
// outgrows N entries (paths that run in a signal handler use it).
#pragma once
#include "aether/internal/guard.hpp"

#include <array>
#include <cstddef>
#include <vector>

namespace aether {

template <class T, std::size_t N>
class inline_list {
public:
    void push_back(const T& v) {
        if (spill_.empty() && size_ < N) {
            inline_[size_++] = v;
            return;
        }
        if (spill_.empty()) spill_.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(size_));
        spill_.push_back(v);
        ++size_;
    }
    T* begin() noexcept { return spill_.empty() ? inline_.data() : spill_.data(); }
    T* end() noexcept { return begin() + size_; }
    const T* begin() const noexcept { return spill_.empty() ? inline_.data() : spill_.data(); }
    const T* end() const noexcept { return begin() + size_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

private:
    std::array<T, N> inline_{};
    std::vector<T> spill_;
    std::size_t size_ = 0;
};

} // namespace aether
