/* A small cluster that has done something worth measuring, for tests/integration/prometheus.sh:
 * node 1 homes two pages, node 0 reads them (remote read faults) and writes one through the API,
 * node 2 stores to one (a remote write fault). Then node 0 creates READY (argv[1]), holding the
 * block's address, and every node stays up, serving its metrics, until STOP (argv[2]) exists.
 * With a third argument "busy", nodes 0 and 2 meanwhile take turns storing to the block's first
 * page, which makes it the cluster's hottest (tests/integration/top.sh). */
#include "cluster_check.h"

#include <unistd.h>

int main(int argc, char** argv) {
    CHECK(argc == 3 || (argc == 4 && strcmp(argv[3], "busy") == 0));
    const int busy = argc == 4;
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const uint64_t block = share_block(&a, 1, 2 * 4096, "block");
    switch (me) {
    case 0: {
        const uint64_t v = 9;
        const uint64_t first = *(volatile uint64_t*)(uintptr_t)block; /* node 2 may have stored 7 by now */
        CHECK(first == 0 || first == 7);
        CHECK(*(volatile uint64_t*)(uintptr_t)(block + 4096) == 0);
        CHECK(seraph_aether_write(&a, block + 4096, &v, sizeof v).status == SERAPH_AETHER_OK);
        break;
    }
    case 2: *(volatile uint64_t*)(uintptr_t)block = 7; break;
    default: break;
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 0) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
        FILE* f = fopen(tmp, "w");
        CHECK(f != NULL);
        fprintf(f, "0x%llx\n", (unsigned long long)block);
        CHECK(fclose(f) == 0 && rename(tmp, argv[1]) == 0);
    }
    /* The script's scrape and queries run now; it says when it is done. */
    const double t0 = now_ms();
    for (uint64_t i = 1; access(argv[2], F_OK) != 0; ++i) {
        CHECK(now_ms() - t0 < 120000);
        if (busy && me != 1) *(volatile uint64_t*)(uintptr_t)block = i; /* a write fault: the page moves */
        usleep(20000);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
