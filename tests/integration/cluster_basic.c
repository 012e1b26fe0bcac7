/* Three processes share memory through the C API: remote allocation, reads and writes, names,
 * atomics from every node summing exactly, a lock built on compare-and-swap, and barriers. */
#include "cluster_check.h"

#include <string.h>

#define ROUNDS 300

typedef struct {
    uint64_t counter;
    char name[64];
} shared_data;

static void lock(Seraph_Aether* a, uint64_t word) {
    uint64_t old = 0;
    for (;;) {
        Seraph_Vbit v = seraph_aether_cas_u64(a, word, 0, (uint64_t)a->local_node_id + 1, &old);
        CHECK(!seraph_vbit_is_void(v));
        if (seraph_vbit_is_true(v)) return;
    }
}

static void unlock(Seraph_Aether* a, uint64_t word) {
    uint64_t old = 0;
    CHECK(seraph_aether_cas_u64(a, word, (uint64_t)a->local_node_id + 1, 0, &old) == SERAPH_VBIT_TRUE);
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id, n = a.node_count;
    CHECK(n == 3);

    /* Node 1 owns the data; node 0 allocates it there remotely and hands the address out by name. */
    if (me == 0) {
        uint64_t data = seraph_aether_alloc_on_node(&a, 1, sizeof(shared_data));
        CHECK(data != SERAPH_VOID_U64);
        CHECK(seraph_aether_get_node(data) == 1);
        shared_data d = {.counter = 41};
        strcpy(d.name, "shared counter");
        CHECK(seraph_aether_write_vbit(&a, data, &d, sizeof d) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "data", data) == SERAPH_VBIT_TRUE);
        uint64_t slots = seraph_aether_alloc_on_node(&a, 2, 4096);
        uint64_t counter = seraph_aether_alloc_on_node(&a, 1, 64);
        uint64_t guarded = seraph_aether_alloc_on_node(&a, 2, 4096);
        CHECK(slots != SERAPH_VOID_U64 && counter != SERAPH_VOID_U64 && guarded != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "slots", slots) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "counter", counter) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "guarded", guarded) == SERAPH_VBIT_TRUE);
    }
    uint64_t data = seraph_aether_lookup(&a, "data", 10000);
    uint64_t slots = seraph_aether_lookup(&a, "slots", 10000);
    uint64_t counter = seraph_aether_lookup(&a, "counter", 10000);
    uint64_t guarded = seraph_aether_lookup(&a, "guarded", 10000);
    CHECK(data != SERAPH_VOID_U64 && slots != SERAPH_VOID_U64 && counter != SERAPH_VOID_U64 && guarded != SERAPH_VOID_U64);

    /* Every node reads the struct written by node 0 into node 1's memory. */
    shared_data got;
    memset(&got, 0, sizeof got);
    CHECK(seraph_aether_read_vbit(&a, data, &got, sizeof got) == SERAPH_VBIT_TRUE);
    CHECK(got.counter == 41);
    CHECK(strcmp(got.name, "shared counter") == 0);

    /* Each node writes its own slot in node 2's memory; after a barrier all see all. */
    uint64_t mine = 0xA000 + me;
    CHECK(seraph_aether_write_vbit(&a, slots + 8 * me, &mine, 8) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);
    for (uint16_t i = 0; i < n; ++i) {
        uint64_t v = 0;
        CHECK(seraph_aether_read_vbit(&a, slots + 8 * i, &v, 8) == SERAPH_VBIT_TRUE);
        CHECK(v == 0xA000u + i);
    }

    /* Home-executed atomics from every node sum exactly. */
    for (int i = 0; i < ROUNDS; ++i) CHECK(seraph_aether_fetch_add_u64(&a, counter, 1, NULL) == SERAPH_VBIT_TRUE);
    /* A plain read-modify-write under a lock made of compare-and-swap is exact too. */
    for (int i = 0; i < ROUNDS / 3; ++i) {
        lock(&a, guarded);
        uint64_t v = 0;
        CHECK(seraph_aether_read_vbit(&a, guarded + 64, &v, 8) == SERAPH_VBIT_TRUE);
        v += 1;
        CHECK(seraph_aether_write_vbit(&a, guarded + 64, &v, 8) == SERAPH_VBIT_TRUE);
        unlock(&a, guarded);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    uint64_t total = 0, locked_total = 0;
    CHECK(seraph_aether_read_vbit(&a, counter, &total, 8) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_read_vbit(&a, guarded + 64, &locked_total, 8) == SERAPH_VBIT_TRUE);
    CHECK(total == (uint64_t)n * ROUNDS);
    CHECK(locked_total == (uint64_t)n * (ROUNDS / 3));

    /* The page generation seen by everyone only grows. */
    uint64_t g = seraph_aether_get_generation(&a, counter);
    CHECK(g != SERAPH_VOID_U64 && g >= (uint64_t)n * ROUNDS);

    printf("node %u: counter %lu, locked counter %lu: exact\n", me, (unsigned long)total, (unsigned long)locked_total);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
