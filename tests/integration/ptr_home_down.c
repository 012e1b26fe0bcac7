/* A home dies while other nodes hold copies of its memory: node 0 and node 1 spin on a flag in
 * node 2's memory (each holds a read-only copy), and node 0 also holds another of its pages
 * exclusive. Node 2 is killed. Nobody asks node 2 anything afterwards: the spinners read their
 * cached copies. They must not spin on those copies forever: once node 2 is known to be down its
 * memory is VOID here, cached copies included, within a bound, by pointer (the VOID page) and by
 * API, with the reason NODE_CRASHED. Needs 3 nodes; node 2 ends by SIGKILL. */
#include "cluster_check.h"

#include <signal.h>
#include <unistd.h>

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    const uint64_t p = share_block(&a, 2, 2 * 4096, "flag");
    volatile uint64_t* flag = (volatile uint64_t*)p;
    volatile uint64_t* owned = (volatile uint64_t*)(p + 4096);
    if (me < 2) CHECK(*flag == 0); /* a read-only copy is cached here now */
    if (me == 0) *owned = 7;       /* and node 0 holds the second page exclusive */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 2) {
        printf("node 2: going down (SIGKILL)\n");
        fflush(stdout);
        raise(SIGKILL);
    }

    /* Spin on the cached flag, as a program waiting for node 2 to change it would. */
    const double start = now_ms();
    uint64_t v;
    while ((v = *flag) == 0) {
        if (now_ms() - start > 10000) {
            fprintf(stderr, "node %u: still reading node 2's old copy 10 s after it died\n", me);
            return 1;
        }
    }
    const double took = now_ms() - start;
    CHECK(v == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    printf("node %u: node 2's memory read VOID (%s) %.0f ms after it died\n", me,
           seraph_aether_void_reason_name(seraph_aether_get_void_reason()), took);
    CHECK(took < 3000); /* detection (about 100 ms) plus a probe, far inside the bound */

    uint64_t r = 0;
    seraph_aether_clear_void_context();
    CHECK(seraph_aether_read_vbit(&a, p, &r, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    if (me == 0) {
        /* The copy this node held exclusive is VOID too: its home is gone. */
        seraph_aether_clear_void_context();
        CHECK(*owned == SERAPH_VOID_U64);
        CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
    }
    seraph_aether_destroy(&a);
    return 0;
}
