/* Every injected failure reason surfaces exactly across processes, on the injecting node's path
 * only: node 0 injects on its path to node 1 while node 2 keeps using node 1 undisturbed. */
#include "cluster_check.h"

#include <string.h>

static const Seraph_Aether_Void_Reason reasons[] = {
    SERAPH_AETHER_VOID_TIMEOUT,    SERAPH_AETHER_VOID_PARTITION,  SERAPH_AETHER_VOID_NODE_CRASHED,
    SERAPH_AETHER_VOID_PERMISSION, SERAPH_AETHER_VOID_GENERATION, SERAPH_AETHER_VOID_CORRUPTION,
};
#define NREASONS (sizeof reasons / sizeof reasons[0])

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(seraph_aether_set_timeout_ms(&a, 400) == SERAPH_VBIT_TRUE);

    if (me == 0) {
        uint64_t p = seraph_aether_alloc_on_node(&a, 1, 4096);
        CHECK(p != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "target", p) == SERAPH_VBIT_TRUE);
    }
    uint64_t p = seraph_aether_lookup(&a, "target", 10000);
    CHECK(p != SERAPH_VOID_U64);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);

    for (size_t i = 0; i < NREASONS; ++i) {
        Seraph_Aether_Void_Reason want = reasons[i];
        if (me == 0) {
            uint64_t v = 1000 + i;
            CHECK(seraph_aether_write_vbit(&a, p, &v, 8) == SERAPH_VBIT_TRUE);
            seraph_aether_inject_failure(&a, 1, want);
            seraph_aether_cache_clear(&a);
            uint64_t r = 0;
            Seraph_Aether_Fetch_Result fr = seraph_aether_read(&a, p, &r, 8);
            CHECK(fr.status != SERAPH_AETHER_OK);
            CHECK(fr.reason == want);
            CHECK(seraph_aether_get_void_reason() == want);
            CHECK(seraph_aether_get_void_addr() == p);
            Seraph_Aether_Fetch_Result fw = seraph_aether_write(&a, p, &v, 8);
            /* Under CORRUPTION the write's payload is damaged on the way and refused. */
            CHECK(fw.reason == want);
            seraph_aether_clear_failure(&a, 1);
            CHECK(seraph_aether_read_vbit(&a, p, &r, 8) == SERAPH_VBIT_TRUE);
            CHECK(r == 1000 + i);
            printf("node 0: injected %-12s -> read and write VOID with exactly that reason, cleared -> works\n",
                   seraph_aether_void_reason_name(want));
        } else if (me == 2) {
            /* Node 2's own path to node 1 is untouched throughout. */
            for (int k = 0; k < 20; ++k) {
                uint64_t r = 0;
                seraph_aether_cache_invalidate(&a, p);
                CHECK(seraph_aether_read_vbit(&a, p, &r, 8) == SERAPH_VBIT_TRUE);
            }
        }
        CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);
    }
    seraph_aether_destroy(&a);
    return 0;
}
