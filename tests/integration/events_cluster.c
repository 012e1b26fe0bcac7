/* Events an operator reads in the log (AETHER_LOG=info; tests/integration/events.sh checks the
 * lines): node 0 revokes an allocation of its own; then node 1 is killed while node 0 keeps
 * reading node 1's memory through the API for two seconds, each read VOID, so that node 0 logs
 * node 1 going down and its VOIDs by reason. */
#include "cluster_check.h"

#include <signal.h>

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const uint64_t word = share_block(&a, 1, 4096, "word");
    if (me == 0) {
        const uint64_t mine = seraph_aether_alloc_on_node(&a, 0, 4096);
        CHECK(mine != SERAPH_VOID_U64);
        CHECK(seraph_aether_revoke(&a, mine) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 1) raise(SIGKILL);
    if (me == 0) {
        const double t0 = now_ms();
        long voids = 0;
        while (now_ms() - t0 < 2500) {
            uint64_t v = 0;
            const Seraph_Aether_Fetch_Result r = seraph_aether_read(&a, word, &v, sizeof v);
            if (r.status != SERAPH_AETHER_OK) ++voids;
        }
        CHECK(voids > 0);
        printf("node 0: %ld reads of dead node 1's memory, VOID\n", voids);
    }
    const double t0 = now_ms();
    while (seraph_aether_barrier(&a, 5000) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t0 < 30000);
    seraph_aether_destroy(&a);
    return 0;
}
