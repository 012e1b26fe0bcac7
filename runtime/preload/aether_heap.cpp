// The Aether heap: size classes in 1 MiB chunks, large blocks in spans of their own kept for reuse.
#include "runtime/preload/aether_heap.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace aether {

struct aether_heap::header {
    std::uint32_t magic;
    std::uint32_t kind; // size class, large_marker, retained_marker or aligned_marker
    std::uint64_t info; // large and retained: bytes of the span; aligned: distance back to the underlying block
};

// A freed large span waiting for reuse: its links live in the span, after its header.
struct aether_heap::retained {
    header h;
    retained* bin_prev;
    retained* bin_next;
    retained* older;
    retained* newer;
};

namespace {

constexpr std::uint32_t heap_magic = 0xAE7E4EA9;
constexpr std::uint64_t page_bytes = 4096;

// RAII for the heap's pthread mutex (std::mutex is not constant-initialisable everywhere).
struct locked {
    explicit locked(pthread_mutex_t& m) noexcept
        : m_(m) {
        pthread_mutex_lock(&m_);
    }
    ~locked() { pthread_mutex_unlock(&m_); }
    pthread_mutex_t& m_;
};

std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) & ~(a - 1); }

void count(std::uint64_t& c, std::uint64_t n = 1) noexcept { __atomic_fetch_add(&c, n, __ATOMIC_RELAXED); }

} // namespace

// Classes: 16..128 by 16, then four classes per power of two up to 32 KiB.
int aether_heap::class_of(std::size_t size) noexcept {
    static_assert(class_size(class_count - 1) == largest_small);
    if (size <= 128) return size == 0 ? 0 : static_cast<int>((size - 1) / 16);
    for (int c = 8; c < class_count; ++c)
        if (class_size(c) >= size) return c;
    return -1;
}

// Retained spans by pages: one bin per count below 8, then four bins per power of two.
int aether_heap::bin_of(std::uint64_t pages) noexcept {
    if (pages < 8) return static_cast<int>(pages);
    const int e = std::bit_width(pages) - 1;
    const int b = 8 + (e - 3) * 4 + static_cast<int>((pages >> (e - 2)) & 3);
    return std::min(b, bin_count - 1);
}

void* aether_heap::allocate_small(int c, bool& fresh) noexcept {
    if (void* p = free_[c]) {
        void* next;
        std::memcpy(&next, p, sizeof next);
        free_[c] = next;
        fresh = false;
        return p;
    }
    const std::uint64_t need = header_size + class_size(c);
    if (bump_ + need > bump_end_) {
        std::uint64_t chunk = source_.allocate ? source_.allocate(chunk_bytes, chunk_bytes) : 0;
        if (chunk == 0) return nullptr;
        count(stats_.chunks);
        bump_ = chunk;
        bump_end_ = chunk + chunk_bytes;
    }
    auto* h = reinterpret_cast<header*>(bump_);
    h->magic = heap_magic;
    h->kind = static_cast<std::uint32_t>(c);
    h->info = 0;
    bump_ += need;
    fresh = true; // never handed out: still the source's zeros
    return h + 1;
}

void aether_heap::unlink(retained* r) noexcept {
    const int b = bin_of(r->h.info / page_bytes);
    (r->bin_prev ? r->bin_prev->bin_next : bins_[b]) = r->bin_next;
    if (r->bin_next) r->bin_next->bin_prev = r->bin_prev;
    (r->older ? r->older->newer : oldest_) = r->newer;
    (r->newer ? r->newer->older : newest_) = r->older;
    retained_bytes_ -= r->h.info;
}

void aether_heap::retain(header* h) noexcept {
    auto* r = reinterpret_cast<retained*>(h);
    h->kind = retained_marker;
    const int b = bin_of(h->info / page_bytes);
    r->bin_prev = nullptr;
    r->bin_next = bins_[b];
    if (bins_[b]) bins_[b]->bin_prev = r;
    bins_[b] = r;
    r->newer = nullptr;
    r->older = newest_;
    (newest_ ? newest_->newer : oldest_) = r;
    newest_ = r;
    retained_bytes_ += h->info;
}

// The smallest retained span of at least `pages` pages that wastes at most a quarter more.
aether_heap::header* aether_heap::take_retained(std::uint64_t pages) noexcept {
    const std::uint64_t limit = pages + pages / 4;
    const int last = bin_of(limit);
    for (int b = bin_of(pages); b <= last; ++b) {
        retained* best = nullptr;
        for (retained* r = bins_[b]; r != nullptr; r = r->bin_next) {
            const std::uint64_t have = r->h.info / page_bytes;
            if (have >= pages && have <= limit && (best == nullptr || r->h.info < best->h.info)) best = r;
        }
        if (best != nullptr) {
            unlink(best);
            return &best->h;
        }
    }
    return nullptr;
}

void aether_heap::release_span(header* h) noexcept {
    const std::uint64_t addr = reinterpret_cast<std::uint64_t>(h);
    const std::uint64_t bytes = h->info;
    h->magic = 0; // a stale pointer to it is no block any more
    count(stats_.spans_released);
    if (source_.release) source_.release(addr, bytes);
}

void* aether_heap::allocate_large(std::size_t size, bool zeroed) noexcept {
    const std::uint64_t bytes = round_up(size + header_size, page_bytes);
    header* h = nullptr;
    {
        locked g(mu_);
        h = take_retained(bytes / page_bytes);
    }
    bool fresh = h == nullptr;
    if (h != nullptr) {
        count(stats_.large_reused);
    } else {
        // Outside the lock: the source installs the pages, which takes a while for a large span.
        std::uint64_t raw = source_.allocate ? source_.allocate(bytes, std::min<std::size_t>(bytes, large_use_now)) : 0;
        if (raw == 0) {
            // The node's memory may be held by retained spans: give them back, then try again.
            for (;;) {
                header* old = nullptr;
                {
                    locked g(mu_);
                    if (oldest_ != nullptr) {
                        old = &oldest_->h;
                        unlink(oldest_);
                    }
                }
                if (old == nullptr) break;
                release_span(old);
            }
            raw = source_.allocate ? source_.allocate(bytes, std::min<std::size_t>(bytes, large_use_now)) : 0;
            if (raw == 0) return nullptr;
        }
        count(stats_.large_spans);
        h = reinterpret_cast<header*>(raw);
        h->info = bytes;
    }
    h->magic = heap_magic;
    h->kind = large_marker;
    if (zeroed && !fresh) std::memset(h + 1, 0, size);
    return h + 1;
}

void* aether_heap::allocate(std::size_t size, std::size_t alignment, bool zeroed) noexcept {
    if (alignment < min_alignment) alignment = min_alignment;
    if (!std::has_single_bit(alignment) || size > (std::size_t{1} << 32)) return nullptr;
    if (alignment > min_alignment) {
        // Over-allocate, then place an "aligned" header just before the aligned address that
        // points back at the block underneath.
        void* under = allocate(size + alignment + header_size, min_alignment, zeroed);
        if (under == nullptr) return nullptr;
        auto base = reinterpret_cast<std::uint64_t>(under);
        std::uint64_t user = round_up(base + header_size, alignment);
        auto* h = reinterpret_cast<header*>(user - header_size);
        h->magic = heap_magic;
        h->kind = aligned_marker;
        h->info = user - base;
        return reinterpret_cast<void*>(user);
    }
    if (size > largest_small) return allocate_large(size, zeroed);
    bool fresh = false;
    void* p;
    {
        locked g(mu_);
        p = allocate_small(class_of(size), fresh);
    }
    if (p != nullptr && zeroed && !fresh) std::memset(p, 0, size); // a reused block holds old bytes
    return p;
}

const aether_heap::header* aether_heap::header_of(const void* p) const noexcept {
    static_assert(sizeof(header) == header_size);
    if (!in_range(p) || (reinterpret_cast<std::uint64_t>(p) & (min_alignment - 1)) != 0) return nullptr;
    const auto* h = static_cast<const header*>(p) - 1;
    return h->magic == heap_magic ? h : nullptr;
}

bool aether_heap::release(void* p) noexcept {
    auto* h = const_cast<header*>(header_of(p));
    if (h == nullptr) return false;
    if (h->kind == aligned_marker) return release(static_cast<char*>(p) - h->info);
    if (h->kind == large_marker) {
        // Kept for reuse; the oldest retained spans go back to the source when there are too many
        // (outside the lock: giving a span back may wait for other nodes to drop their copies).
        header* out[9];
        std::size_t n = 0;
        if (h->info > retained_limit) {
            release_span(h); // more than is ever kept: nothing older need go for it
            return true;
        }
        {
            locked g(mu_);
            while (retained_bytes_ + h->info > retained_limit && oldest_ != nullptr && n < 8) {
                out[n++] = &oldest_->h;
                unlink(oldest_);
            }
            if (retained_bytes_ + h->info <= retained_limit)
                retain(h);
            else
                out[n++] = h;
        }
        for (std::size_t i = 0; i < n; ++i) release_span(out[i]);
        return true;
    }
    if (h->kind >= static_cast<std::uint32_t>(class_count)) return false; // retained: freed already
    locked g(mu_);
    std::memcpy(p, &free_[h->kind], sizeof(void*));
    free_[h->kind] = p;
    return true;
}

void* aether_heap::reallocate(void* p, std::size_t size) noexcept {
    const header* h = header_of(p);
    if (h == nullptr) return nullptr;
    const std::size_t have = usable_size(p);
    // In place when it fits; a large block that would be more than half empty moves to a smaller
    // one, so its pages can serve others.
    if (size <= have && (h->kind != large_marker || size > have / 2)) {
        count(stats_.realloc_in_place);
        return p;
    }
    void* q = allocate(size);
    if (q == nullptr) return nullptr;
    const std::size_t keep = std::min(have, size);
    std::memcpy(q, p, keep);
    release(p);
    count(stats_.realloc_moved);
    count(stats_.realloc_copied_bytes, keep);
    return q;
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

aether_heap::stats_t aether_heap::stats() noexcept {
    locked g(mu_);
    return stats_;
}

} // namespace aether
