/* A program written only against the installed headers and the functions, types and fields of
 * the C API contract. Without AETHER_NODE_ID it builds a cluster of in-process nodes; started by
 * aether-run it joins the cluster from the environment. Exits 0 when everything behaved. */
#include <seraph/aether.h>
#include <seraph/vbit.h>
#include <seraph/void.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define EXPECT(cond)                                                                                                             \
    do {                                                                                                                         \
        if (!(cond)) {                                                                                                           \
            fprintf(stderr, "api_consumer: expectation failed at line %d: %s\n", __LINE__, #cond);                               \
            ++failures;                                                                                                          \
        }                                                                                                                        \
    } while (0)

typedef struct {
    uint64_t counter;
    char name[64];
} SharedData;

static void exercise(Seraph_Aether* a, uint16_t home) {
    uint64_t p = seraph_aether_alloc_on_node(a, home, sizeof(SharedData));
    EXPECT(p != SERAPH_VOID_U64);
    EXPECT(seraph_aether_get_node(p) == home);
    EXPECT(seraph_aether_is_aether_addr(p));
    SharedData d = {.counter = 5};
    strcpy(d.name, "consumer");
    Seraph_Aether_Fetch_Result w = seraph_aether_write(a, p, &d, sizeof d);
    EXPECT(w.status == SERAPH_AETHER_OK);
    SharedData r;
    EXPECT(seraph_vbit_is_true(seraph_aether_read_vbit(a, p, &r, sizeof r)));
    EXPECT(r.counter == 5 && strcmp(r.name, "consumer") == 0);
    Seraph_Aether_Cache_Entry* e = seraph_aether_cache_lookup(a, p);
    EXPECT(e != NULL && e->valid && e->owner_node == home && e->aether_addr == p);
    uint64_t old = 0;
    EXPECT(seraph_aether_fetch_add_u64(a, p, 10, &old) == SERAPH_VBIT_TRUE && old == 5);
    EXPECT(seraph_aether_cas_u64(a, p, 15, 1, &old) == SERAPH_VBIT_TRUE);
    uint64_t g = seraph_aether_get_global_gen(a, p);
    EXPECT(seraph_aether_check_generation(a, p, g) == SERAPH_VBIT_TRUE);
    EXPECT(seraph_aether_revoke(a, p) == SERAPH_VBIT_TRUE);
    EXPECT(seraph_aether_check_generation(a, p, g) == SERAPH_VBIT_FALSE);
    seraph_aether_free(a, p, sizeof d);
    Seraph_Aether_Fetch_Result after = seraph_aether_read(a, p, &r, sizeof r);
    EXPECT(after.status == SERAPH_AETHER_GENERATION && after.reason == SERAPH_AETHER_VOID_GENERATION);
}

int main(void) {
    Seraph_Aether a;
    uint64_t hits = 0, misses = 0, fetches = 0, sent = 0, received = 0;
    if (getenv("AETHER_NODE_ID") != NULL) {
        EXPECT(seraph_aether_init_from_env(&a) == SERAPH_VBIT_TRUE);
        EXPECT(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
        exercise(&a, (uint16_t)((a.local_node_id + 1) % a.node_count));
        EXPECT(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    } else {
        EXPECT(seraph_aether_init(&a, 0, 3) == SERAPH_VBIT_TRUE);
        for (uint16_t i = 0; i < 3; ++i) EXPECT(seraph_aether_add_sim_node(&a, i, 1 << 20) == SERAPH_VBIT_TRUE);
        for (uint16_t i = 0; i < 3; ++i) exercise(&a, i);
        seraph_aether_set_node_online(&a, 2, false);
        uint64_t v = 0;
        EXPECT(seraph_aether_read_vbit(&a, seraph_aether_make_addr(2, 0), &v, 8) == SERAPH_VBIT_VOID);
        EXPECT(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    }
    seraph_aether_get_stats(&a, &hits, &misses, &fetches, &sent, &received);
    EXPECT(misses >= 1 && a.cache_misses == misses);
    seraph_aether_destroy(&a);
    EXPECT(!a.initialized);
    if (failures == 0)
        printf("api_consumer: node %s: all expectations met\n",
               getenv("AETHER_NODE_ID") ? getenv("AETHER_NODE_ID") : "(one process)");
    return failures == 0 ? 0 : 1;
}
