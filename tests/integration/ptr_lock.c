/* Several threads on each of 3 nodes increment plain counters (by pointer) under a lock built on
 * the home-executed compare-and-swap: the totals are exact, with the counters all in one page and
 * with each counter in a page of its own. */
#include "cluster_check.h"

#include <pthread.h>

#define THREADS 3
#define INCREMENTS 150

typedef struct {
    Seraph_Aether* a;
    uint64_t lock; /* Aether word: 0 free, else owner token */
    volatile uint64_t* total;
    volatile uint64_t* mine;
    uint64_t token;
} worker;

static void acquire(worker* w) {
    uint64_t old = 0;
    for (;;) {
        Seraph_Vbit v = seraph_aether_cas_u64(w->a, w->lock, 0, w->token, &old);
        CHECK(!seraph_vbit_is_void(v));
        if (seraph_vbit_is_true(v)) return;
        sched_yield();
    }
}

static void release(worker* w) {
    uint64_t old = 0;
    CHECK(seraph_aether_cas_u64(w->a, w->lock, w->token, 0, &old) == SERAPH_VBIT_TRUE);
}

static void* run(void* arg) {
    worker* w = arg;
    for (int i = 0; i < INCREMENTS; ++i) {
        acquire(w);
        uint64_t t = *w->total; /* plain read-modify-write: only the lock makes it exact */
        *w->total = t + 1;
        *w->mine += 1;
        release(w);
    }
    return NULL;
}

/* One layout: `spread` 0 puts every counter in one page, 1 gives each its own page. */
static void round_of(Seraph_Aether* a, int spread) {
    const uint16_t me = a->local_node_id, n = a->node_count;
    const uint64_t stride = spread ? 4096 : 8;
    char name[32];
    snprintf(name, sizeof name, "counters%d", spread);
    if (me == 0) {
        uint64_t lock = seraph_aether_alloc_on_node(a, 0, 64);
        uint64_t counters = seraph_aether_alloc_on_node(a, 1, (size_t)(1 + n * THREADS) * stride + 4096);
        CHECK(lock != SERAPH_VOID_U64 && counters != SERAPH_VOID_U64);
        CHECK(seraph_aether_write_vbit(a, counters, &lock, 8) == SERAPH_VBIT_TRUE); /* lock address in slot 0 */
        CHECK(seraph_aether_publish(a, name, counters) == SERAPH_VBIT_TRUE);
    }
    uint64_t counters = seraph_aether_lookup(a, name, 10000);
    CHECK(counters != SERAPH_VOID_U64);
    uint64_t lock = *(volatile uint64_t*)counters;
    uint64_t total_addr = counters + 4096; /* the total lives apart from the lock address */
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);

    pthread_t threads[THREADS];
    worker ws[THREADS];
    for (int t = 0; t < THREADS; ++t) {
        ws[t].a = a;
        ws[t].lock = lock;
        ws[t].total = (volatile uint64_t*)total_addr;
        ws[t].mine = (volatile uint64_t*)(total_addr + stride * (uint64_t)(1 + me * THREADS + t));
        ws[t].token = (uint64_t)me * 100 + (uint64_t)t + 1;
        CHECK(pthread_create(&threads[t], NULL, run, &ws[t]) == 0);
    }
    for (int t = 0; t < THREADS; ++t) pthread_join(threads[t], NULL);
    CHECK(seraph_aether_barrier(a, 60000) == SERAPH_VBIT_TRUE);

    uint64_t total = *(volatile uint64_t*)total_addr;
    CHECK(total == (uint64_t)n * THREADS * INCREMENTS);
    for (int k = 0; k < n * THREADS; ++k) {
        uint64_t c = 0;
        CHECK(seraph_aether_read_vbit(a, total_addr + stride * (uint64_t)(1 + k), &c, 8) == SERAPH_VBIT_TRUE);
        CHECK(c == INCREMENTS);
    }
    printf("node %u: %d threads x %d nodes, counters %s: total %lu exact\n", me, THREADS, n,
           spread ? "in separate pages" : "in one page", (unsigned long)total);
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    round_of(&a, 0);
    round_of(&a, 1);
    seraph_aether_destroy(&a);
    return 0;
}
