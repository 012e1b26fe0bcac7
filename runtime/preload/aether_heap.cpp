// The Aether heap: size classes in 1 MiB chunks, free lists kept inside the free blocks.
#include "runtime/preload/aether_heap.hpp"

#include <bit>
#include <cstring>

namespace aether {

struct aether_heap::header {
    std::uint32_t magic;
    std::uint32_t kind; // size class, large_marker or aligned_marker
    std::uint64_t info; // large: bytes obtained; aligned: distance back to the underlying block
};

namespace {

constexpr std::uint32_t heap_magic = 0xAE7E4EA9;

// RAII for the heap's pthread mutex (std::mutex is not constant-initialisable everywhere).
struct locked {
    explicit locked(pthread_mutex_t& m) noexcept : m_(m) { pthread_mutex_lock(&m_); }
    ~locked() { pthread_mutex_unlock(&m_); }
    pthread_mutex_t& m_;
};

std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) & ~(a - 1); }

} // namespace

// Classes: 16..128 by 16, then four classes per power of two up to 64 KiB.
std::size_t aether_heap::class_size(int c) noexcept {
    if (c < 8) return static_cast<std::size_t>(c + 1) * 16;
    int k = c - 8;
    std::size_t base = std::size_t{128} << (k / 4);
    return base + base / 4 * static_cast<std::size_t>(k % 4 + 1);
}

int aether_heap::class_of(std::size_t size) noexcept {
    if (size <= 128) return size == 0 ? 0 : static_cast<int>((size - 1) / 16);
    for (int c = 8; c < class_count; ++c)
        if (class_size(c) >= size) return c;
    return -1;
}

void* aether_heap::allocate_small(int c) noexcept {
    if (void* p = free_[c]) {
        void* next;
        std::memcpy(&next, p, sizeof next);
        free_[c] = next;
        return p;
    }
    const std::uint64_t need = header_size + class_size(c);
    if (bump_ + need > bump_end_) {
        std::uint64_t chunk = source_.allocate ? source_.allocate(chunk_bytes) : 0;
        if (chunk == 0) return nullptr;
        bump_ = chunk;
        bump_end_ = chunk + chunk_bytes;
    }
    auto* h = reinterpret_cast<header*>(bump_);
    h->magic = heap_magic;
    h->kind = static_cast<std::uint32_t>(c);
    h->info = 0;
    bump_ += need;
    return h + 1;
}

void* aether_heap::allocate_large(std::size_t size) noexcept {
    std::uint64_t bytes = round_up(size + header_size, 4096);
    std::uint64_t raw = source_.allocate ? source_.allocate(bytes) : 0;
    if (raw == 0) return nullptr;
    auto* h = reinterpret_cast<header*>(raw);
    h->magic = heap_magic;
    h->kind = large_marker;
    h->info = bytes;
    return h + 1;
}

void* aether_heap::allocate(std::size_t size, std::size_t alignment) noexcept {
    if (alignment < min_alignment) alignment = min_alignment;
    if (!std::has_single_bit(alignment) || size > (std::size_t{1} << 32)) return nullptr;
    if (alignment > min_alignment) {
        // Over-allocate, then place an "aligned" header just before the aligned address that
        // points back at the block underneath.
        void* under = allocate(size + alignment + header_size, min_alignment);
        if (under == nullptr) return nullptr;
        auto base = reinterpret_cast<std::uint64_t>(under);
        std::uint64_t user = round_up(base + header_size, alignment);
        auto* h = reinterpret_cast<header*>(user - header_size);
        h->magic = heap_magic;
        h->kind = aligned_marker;
        h->info = user - base;
        return reinterpret_cast<void*>(user);
    }
    locked g(mu_);
    int c = size <= largest_small ? class_of(size) : -1;
    return c >= 0 ? allocate_small(c) : allocate_large(size);
}

const aether_heap::header* aether_heap::header_of(const void* p) const noexcept {
    static_assert(sizeof(header) == header_size);
    if (!in_range(p) || (reinterpret_cast<std::uint64_t>(p) & (min_alignment - 1)) != 0) return nullptr;
    const auto* h = static_cast<const header*>(p) - 1;
    return h->magic == heap_magic ? h : nullptr;
}

bool aether_heap::release(void* p) noexcept {
    const header* h = header_of(p);
    if (h == nullptr) return false;
    if (h->kind == aligned_marker) return release(static_cast<char*>(p) - h->info);
    locked g(mu_);
    if (h->kind == large_marker) {
        if (source_.release) source_.release(reinterpret_cast<std::uint64_t>(h));
        return true;
    }
    if (h->kind >= static_cast<std::uint32_t>(class_count)) return false;
    std::memcpy(p, &free_[h->kind], sizeof(void*));
    free_[h->kind] = p;
    return true;
}

std::size_t aether_heap::usable_size(const void* p) const noexcept {
    const header* h = header_of(p);
    if (h == nullptr) return 0;
    if (h->kind == aligned_marker) {
        const char* under = static_cast<const char*>(p) - h->info;
        std::size_t total = usable_size(under);
        return total > h->info ? total - h->info : 0;
    }
    if (h->kind == large_marker) return h->info - header_size;
    return h->kind < static_cast<std::uint32_t>(class_count) ? class_size(static_cast<int>(h->kind)) : 0;
}

} // namespace aether
