/* A node started by a PMIx server (Open MPI's mpirun here) with no AETHER_* variables: its id is
 * its rank, the cluster is the job, and the nodes find each other through PMIx. Every node then
 * writes its own memory, and reads every other node's by API and by pointer; a write by one node
 * to another's memory is seen by the third. */
#include "../integration/cluster_check.h"

#include <string.h>

static uint64_t expected(uint16_t node) { return 0xA0000000ULL + node * 7919ULL; }

int main(void) {
    CHECK(getenv("AETHER_NODE_ID") == NULL && getenv("AETHER_PEERS") == NULL);
    const char* rank = getenv("PMIX_RANK");
    CHECK(rank != NULL);
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id, n = a.node_count;
    CHECK(me == (uint16_t)atoi(rank));
    const char* size = getenv("OMPI_COMM_WORLD_SIZE");
    if (size != NULL) CHECK(n == (uint16_t)atoi(size));
    CHECK(n >= 2);

    char name[32];
    snprintf(name, sizeof name, "word-%u", me);
    uint64_t mine = seraph_aether_alloc_on_node(&a, me, 64);
    CHECK(mine != SERAPH_VOID_U64);
    *(volatile uint64_t*)(uintptr_t)mine = expected(me);
    CHECK(seraph_aether_publish(&a, name, mine) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    for (uint16_t peer = 0; peer < n; ++peer) {
        snprintf(name, sizeof name, "word-%u", peer);
        uint64_t word = seraph_aether_lookup(&a, name, 10000);
        CHECK(word != SERAPH_VOID_U64 && seraph_aether_get_node(word) == peer);
        uint64_t got = 0;
        CHECK(seraph_aether_read_vbit(&a, word, &got, sizeof got) == SERAPH_VBIT_TRUE);
        CHECK(got == expected(peer));
        CHECK(*(volatile uint64_t*)(uintptr_t)word == expected(peer));
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    /* Node 0 writes node 1's word; after the barrier every node reads the new value. */
    uint64_t word1 = seraph_aether_lookup(&a, "word-1", 10000);
    if (me == 0) *(volatile uint64_t*)(uintptr_t)word1 = 42;
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    CHECK(*(volatile uint64_t*)(uintptr_t)word1 == 42);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    printf("node %u of %u: joined through PMIx, read every node's memory\n", me, n);
    seraph_aether_destroy(&a);
    return 0;
}
