/* Names and barriers without node 0. Node 0 dies (SIGKILL) after a name was published; the two
 * survivors are a majority of the three nodes, so: the barrier that finds the death is VOID
 * (NODE_CRASHED: a barrier over all nodes cannot complete), the next ones complete without node 0,
 * the name published before is still found, and new names can be published and found. Then node 2
 * dies too: node 1 alone is no majority, and names and barriers are VOID within their deadlines
 * rather than answered from a minority. Run with --expect 0=SIGKILL --expect 2=SIGKILL. */
#include "cluster_check.h"

#include <signal.h>

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    if (me == 1) {
        uint64_t p = seraph_aether_alloc_on_node(&a, 1, 64);
        CHECK(p != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "before", p) == SERAPH_VBIT_TRUE);
    }
    const uint64_t before = seraph_aether_lookup(&a, "before", 10000);
    CHECK(before != SERAPH_VOID_U64 && seraph_aether_get_node(before) == 1);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 0) raise(SIGKILL);

    /* The barrier that finds node 0 dead fails for both survivors... */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    /* ...and the names live on the survivors: the old one is found, new ones are published. */
    CHECK(seraph_aether_lookup(&a, "before", 5000) == before);
    if (me == 2) {
        uint64_t p = seraph_aether_alloc_on_node(&a, 2, 64);
        CHECK(p != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "after", p) == SERAPH_VBIT_TRUE);
    }
    const uint64_t after = seraph_aether_lookup(&a, "after", 10000);
    CHECK(after != SERAPH_VOID_U64 && seraph_aether_get_node(after) == 2);
    /* Barriers go on without node 0. */
    const double t0 = now_ms();
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    printf("node %u: node 0 is gone: names found and published, barriers complete (%.0f ms for two)\n", me, now_ms() - t0);
    if (me == 2) raise(SIGKILL);

    /* Node 1 alone is no majority: nothing is answered from it alone, each call within its deadline. */
    const uint32_t deadline_ms = seraph_aether_get_timeout_ms(&a);
    double t = now_ms();
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_publish(&a, "lonely", after) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_lookup(&a, "before", 0) == SERAPH_VOID_U64);
    const double alone_ms = now_ms() - t;
    CHECK(alone_ms < 4.0 * (deadline_ms + 500));
    printf("node 1: alone of 3: barriers, publish and lookup VOID, all four in %.0f ms\n", alone_ms);
    seraph_aether_destroy(&a);
    return 0;
}
