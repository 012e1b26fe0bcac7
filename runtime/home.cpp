// Home memory, allocations with capability generations, and sharer sets.
#include "runtime/home.hpp"

#include "aether/internal/sync.hpp"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <iterator>
#include <new>

namespace aether {

const char* to_string(dir_state s) noexcept {
    switch (s) {
    case dir_state::unowned: return "unowned";
    case dir_state::shared: return "shared";
    case dir_state::exclusive: return "exclusive";
    case dir_state::lost: return "lost";
    }
    return "?";
}

bool sharer_set::has(node_id n) const noexcept {
    if (n < 64) return (p_.sharers >> n) & 1;
    if (p_.more == nullptr || n >= count_) return false;
    return (p_.more[(n - 64) / 64] >> ((n - 64) % 64)) & 1;
}

void sharer_set::add(node_id n) {
    if (n < 64) {
        p_.sharers |= std::uint64_t{1} << n;
        return;
    }
    if (n >= count_) return;
    if (p_.more == nullptr) {
        // Allocated once per page for its lifetime; ~home_store frees it.
        p_.more = new std::uint64_t[extra_words()]();
    }
    p_.more[(n - 64) / 64] |= std::uint64_t{1} << ((n - 64) % 64);
}

void sharer_set::remove(node_id n) noexcept {
    if (n < 64) {
        p_.sharers &= ~(std::uint64_t{1} << n);
        return;
    }
    if (p_.more != nullptr && n < count_) p_.more[(n - 64) / 64] &= ~(std::uint64_t{1} << ((n - 64) % 64));
}

void sharer_set::clear() noexcept {
    p_.sharers = 0;
    if (p_.more != nullptr) std::memset(p_.more, 0, extra_words() * sizeof(std::uint64_t));
}

bool sharer_set::empty() const noexcept {
    if (p_.sharers != 0) return false;
    if (p_.more == nullptr) return true;
    for (std::size_t i = 0; i < extra_words(); ++i)
        if (p_.more[i] != 0) return false;
    return true;
}

std::vector<node_id> sharer_set::members() const {
    std::vector<node_id> out;
    for_each([&](node_id n) { out.push_back(n); });
    return out;
}

home_store::home_store(node_id self, node_id node_count, std::size_t bytes)
    : self_(self),
      node_count_(node_count),
      page_count_(static_cast<std::uint32_t>(std::min<std::uint64_t>(page_ceil(bytes) / page_size, pages_per_node))),
      pages_(page_count_),
      allocator_(page_count_) {
    if (page_count_ > 0) {
        void* p = ::mmap(nullptr, capacity_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        ::madvise(p, capacity_bytes(), MADV_DONTFORK);
        memory_ = static_cast<std::byte*>(p);
    }
}

home_store::~home_store() {
    for (std::uint32_t i = 0; i < page_count_; ++i)
        if (pages_[i].more != nullptr) {
            delete[] pages_[i].more;
            pages_[i].more = nullptr;
        }
    if (memory_ != nullptr) ::munmap(memory_, capacity_bytes());
}

std::uint64_t home_store::next_cap_gen() noexcept {
    // 48 bits (the packed global generation keeps 48); never 0, which means "never allocated".
    cap_counter_ = (cap_counter_ + 1) & 0x0000FFFFFFFFFFFFull;
    if (cap_counter_ == 0) cap_counter_ = 1;
    return cap_counter_;
}

std::optional<home_store::allocation> home_store::allocate(std::size_t bytes) {
    if (bytes == 0 || bytes > capacity_bytes()) return std::nullopt;
    auto pages = static_cast<std::uint32_t>(page_ceil(bytes) / page_size);
    std::lock_guard lock(alloc_mu_);
    auto first = allocator_.allocate(pages);
    if (!first) return std::nullopt;
    std::uint64_t gen = next_cap_gen();
    allocations_.emplace(*first, pages);
    for (std::uint32_t i = *first; i < *first + pages; ++i) {
        home_page& p = pages_[i];
        spin_guard g(p.lock);
        p.allocated = 1;
        p.cap_gen = gen;
        p.state = dir_state::unowned;
        p.owner = no_node;
        sharer_set(p, node_count_).clear();
    }
    return allocation{*first, pages, gen};
}

home_store::allocation_map::const_iterator home_store::find_locked(std::uint32_t index) const {
    auto it = allocations_.upper_bound(index);
    if (it == allocations_.begin()) return allocations_.end();
    --it;
    if (index >= it->first + it->second) return allocations_.end();
    return it;
}

std::optional<home_store::allocation> home_store::allocation_of(std::uint32_t index) const {
    std::lock_guard lock(alloc_mu_);
    auto it = find_locked(index);
    if (it == allocations_.end()) return std::nullopt;
    return allocation{it->first, it->second, pages_[it->first].cap_gen};
}

std::optional<home_store::allocation> home_store::begin_free(std::uint32_t first) {
    std::lock_guard lock(alloc_mu_);
    auto it = allocations_.find(first);
    if (it == allocations_.end()) return std::nullopt;
    allocation a{it->first, it->second, 0};
    allocations_.erase(it);
    std::uint64_t gen = next_cap_gen();
    a.cap_gen = gen;
    for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) {
        home_page& p = pages_[i];
        spin_guard g(p.lock);
        p.allocated = 0;
        p.cap_gen = gen; // a stale global generation no longer matches
    }
    return a;
}

void home_store::finish_free(const allocation& a) {
    // Fresh pages read as zero: MADV_DONTNEED gives the memory back and zero-fills it on next use.
    ::madvise(bytes(a.first), std::size_t{a.pages} * page_size, MADV_DONTNEED);
    std::lock_guard lock(alloc_mu_);
    for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) {
        home_page& p = pages_[i];
        spin_guard g(p.lock);
        p.state = dir_state::unowned;
        p.owner = no_node;
        sharer_set(p, node_count_).clear();
    }
    allocator_.release(a.first, a.pages);
}

std::optional<home_store::allocation> home_store::revoke(std::uint32_t index) {
    std::lock_guard lock(alloc_mu_);
    auto it = find_locked(index);
    if (it == allocations_.end()) return std::nullopt;
    allocation a{it->first, it->second, next_cap_gen()};
    for (std::uint32_t i = a.first; i < a.first + a.pages; ++i) {
        spin_guard g(pages_[i].lock);
        pages_[i].cap_gen = a.cap_gen;
    }
    return a;
}

std::uint32_t home_store::free_pages() const {
    std::lock_guard lock(alloc_mu_);
    return allocator_.free_pages();
}

std::uint32_t home_store::allocated_end() const {
    std::lock_guard lock(alloc_mu_);
    if (allocations_.empty()) return 0;
    auto last = std::prev(allocations_.end());
    return last->first + last->second;
}

std::size_t home_store::live_allocations() const {
    std::lock_guard lock(alloc_mu_);
    return allocations_.size();
}

} // namespace aether
