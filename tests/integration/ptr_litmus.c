/* Litmus tests across processes, variables on different pages homed on different nodes, with
 * plain loads and stores: message passing, store buffering, IRIW and 2+2W, thousands of rounds
 * each. No outcome that sequential consistency forbids may appear. Needs 4 nodes. */
#include "cluster_check.h"

#include <string.h>

#define ROUNDS 1500

static volatile uint64_t* x;
static volatile uint64_t* y;
static uint64_t xaddr, yaddr;

/* Starts a round: everyone has finished the previous one, then x and y are zeroed (through the
 * home, which invalidates every copy), then everyone starts together. */
static void reset(Seraph_Aether* a) {
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
    if (a->local_node_id == 3) {
        uint64_t zero = 0;
        CHECK(seraph_aether_write_vbit(a, xaddr, &zero, 8) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_write_vbit(a, yaddr, &zero, 8) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
}

/* Results travel through a small API-written table so every node can check them. */
static uint64_t results;
static void report(Seraph_Aether* a, int slot, uint64_t v) {
    CHECK(seraph_aether_write_vbit(a, results + 8 * (uint64_t)slot, &v, 8) == SERAPH_VBIT_TRUE);
}
static uint64_t result(Seraph_Aether* a, int slot) {
    uint64_t v = 0;
    seraph_aether_cache_invalidate(a, results);
    CHECK(seraph_aether_read_vbit(a, results + 8 * (uint64_t)slot, &v, 8) == SERAPH_VBIT_TRUE);
    return v;
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 4);
    if (me == 0) {
        xaddr = seraph_aether_alloc_on_node(&a, 1, 4096);
        yaddr = seraph_aether_alloc_on_node(&a, 2, 4096);
        results = seraph_aether_alloc_on_node(&a, 3, 4096);
        CHECK(xaddr != SERAPH_VOID_U64 && yaddr != SERAPH_VOID_U64 && results != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "x", xaddr) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "y", yaddr) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "results", results) == SERAPH_VBIT_TRUE);
    }
    xaddr = seraph_aether_lookup(&a, "x", 10000);
    yaddr = seraph_aether_lookup(&a, "y", 10000);
    results = seraph_aether_lookup(&a, "results", 10000);
    x = (volatile uint64_t*)xaddr;
    y = (volatile uint64_t*)yaddr;

    long seen[4][4];
    memset(seen, 0, sizeof seen);

    /* MP: P0: x=1; y=1.  P1: r1=y; r2=x.  Forbidden: r1=1, r2=0. */
    for (int r = 0; r < ROUNDS; ++r) {
        reset(&a);
        if (me == 0) {
            *x = 1;
            *y = 1;
        } else if (me == 1) {
            uint64_t r1 = *y, r2 = *x;
            CHECK(!(r1 == 1 && r2 == 0));
            ++seen[0][r1 * 2 + r2];
        }
    }
    /* SB: P0: x=1; r1=y.  P1: y=1; r2=x.  Forbidden: r1=0, r2=0. */
    for (int r = 0; r < ROUNDS; ++r) {
        reset(&a);
        if (me == 0) {
            *x = 1;
            report(&a, 0, *y);
        } else if (me == 1) {
            *y = 1;
            report(&a, 1, *x);
        }
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
        if (me == 3) {
            uint64_t r1 = result(&a, 0), r2 = result(&a, 1);
            CHECK(!(r1 == 0 && r2 == 0));
            ++seen[1][r1 * 2 + r2];
        }
    }
    /* IRIW: P0: x=1.  P1: y=1.  P2: r1=x; r2=y.  P3: r3=y; r4=x.
     * Forbidden: r1=1, r2=0, r3=1, r4=0 (the readers disagree on the order of the two writes). */
    for (int r = 0; r < ROUNDS; ++r) {
        reset(&a);
        if (me == 0) *x = 1;
        if (me == 1) *y = 1;
        if (me == 2) {
            uint64_t r1 = *x, r2 = *y;
            report(&a, 2, r1 * 2 + r2);
        }
        if (me == 3) {
            uint64_t r3 = *y, r4 = *x;
            report(&a, 3, r3 * 2 + r4);
        }
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
        if (me == 0) {
            uint64_t a2 = result(&a, 2), a3 = result(&a, 3);
            CHECK(!(a2 == 2 && a3 == 2));
            ++seen[2][(a2 == 2) * 2 + (a3 == 2)];
        }
    }
    /* 2+2W: P0: x=1; y=2.  P1: y=1; x=2.  Forbidden final state: x=1 and y=1. */
    for (int r = 0; r < ROUNDS; ++r) {
        reset(&a);
        if (me == 0) {
            *x = 1;
            *y = 2;
        } else if (me == 1) {
            *y = 1;
            *x = 2;
        }
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
        if (me == 2) {
            uint64_t fx = 0, fy = 0;
            CHECK(seraph_aether_read_vbit(&a, xaddr, &fx, 8) == SERAPH_VBIT_TRUE);
            CHECK(seraph_aether_read_vbit(&a, yaddr, &fy, 8) == SERAPH_VBIT_TRUE);
            CHECK(!(fx == 1 && fy == 1));
            ++seen[3][(fx - 1) * 2 + (fy - 1)];
        }
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 1)
        printf("MP   %d rounds: (r1,r2) 00:%ld 01:%ld 10:%ld(forbidden) 11:%ld\n", ROUNDS, seen[0][0], seen[0][1], seen[0][2],
               seen[0][3]);
    if (me == 3)
        printf("SB   %d rounds: (r1,r2) 00:%ld(forbidden) 01:%ld 10:%ld 11:%ld\n", ROUNDS, seen[1][0], seen[1][1], seen[1][2],
               seen[1][3]);
    if (me == 0) printf("IRIW %d rounds: both readers saw opposite orders: %ld (forbidden)\n", ROUNDS, seen[2][3]);
    if (me == 2)
        printf("2+2W %d rounds: final (x,y) 11:%ld(forbidden) 12:%ld 21:%ld 22:%ld\n", ROUNDS, seen[3][0], seen[3][1], seen[3][2],
               seen[3][3]);
    seraph_aether_destroy(&a);
    return 0;
}
