/* Readahead across processes: a sequential pointer scan of another node's memory fetches many pages
 * per request, and stays coherent. Node 1 homes the pages; node 2 holds two of them exclusive
 * (dirty) when node 0 scans, so the scan must get those through the home's recall path, not from a
 * batch; afterwards node 2 writes a page node 0 holds only because it was read ahead, and node 0
 * must see the new value (the home recorded it as a sharer and invalidated its copy). */
#include "cluster_check.h"

#include <stdint.h>

#define PAGES 256
#define DIRTY_A 100
#define DIRTY_B 101
#define LATER 180

static uint64_t word_at(uint64_t base, int page) { return base + (uint64_t)page * 4096; }
static uint64_t initial(int page) { return 0x5EED0000u + (uint64_t)page; }

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;

    if (me == 1) {
        uint64_t base = seraph_aether_alloc_on_node(&a, 1, PAGES * 4096);
        CHECK(base != SERAPH_VOID_U64);
        for (int p = 0; p < PAGES; ++p) *(volatile uint64_t*)word_at(base, p) = initial(p);
        /* Its own pointer stores left exclusive copies here; flush them home so that node 0's
         * scan finds the pages unowned (what readahead batches), except the two node 2 dirties. */
        seraph_aether_cache_flush(&a);
        CHECK(seraph_aether_publish(&a, "pages", base) == SERAPH_VBIT_TRUE);
    }
    const uint64_t base = seraph_aether_lookup(&a, "pages", 10000);
    CHECK(base != SERAPH_VOID_U64);

    if (me == 2) {
        *(volatile uint64_t*)word_at(base, DIRTY_A) = 0xD1D1;
        *(volatile uint64_t*)word_at(base, DIRTY_B) = 0xD2D2;
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 0) {
        uint64_t fetches_before = 0, fetches_after = 0;
        seraph_aether_get_stats(&a, NULL, NULL, &fetches_before, NULL, NULL);
        for (int p = 0; p < PAGES; ++p) {
            uint64_t want = p == DIRTY_A ? 0xD1D1 : p == DIRTY_B ? 0xD2D2 : initial(p);
            uint64_t got = *(volatile uint64_t*)word_at(base, p);
            if (got != want)
                fprintf(stderr, "node 0: page %d reads %#lx, want %#lx\n", p, (unsigned long)got, (unsigned long)want);
            CHECK(got == want);
        }
        seraph_aether_get_stats(&a, NULL, NULL, &fetches_after, NULL, NULL);
        const uint64_t fetches = fetches_after - fetches_before;
        printf("node 0: scanned %d remote pages with %lu fetches\n", PAGES, (unsigned long)fetches);
        /* One page per fetch would be 256; windows of 1, 4, 16, 64 pages need about a dozen. */
        CHECK(fetches <= PAGES / 8);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 2) *(volatile uint64_t*)word_at(base, LATER) = 0x1A7E;
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 0) CHECK(*(volatile uint64_t*)word_at(base, LATER) == 0x1A7E);

    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
