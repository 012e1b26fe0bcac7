/* A small cluster that has done something worth measuring, for tests/integration/prometheus.sh:
 * node 1 homes two pages, node 0 reads them (remote read faults) and writes one through the API,
 * node 2 stores to one (a remote write fault). Then node 0 creates READY (argv[1]) and every node
 * stays up, serving its metrics, until STOP (argv[2]) exists. */
#include "cluster_check.h"

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char** argv) {
    CHECK(argc == 3);
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
        const int fd = open(argv[1], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        close(fd);
    }
    /* The script's scrape and queries run now; it says when it is done. */
    const double t0 = now_ms();
    while (access(argv[2], F_OK) != 0) {
        CHECK(now_ms() - t0 < 120000);
        usleep(20000);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
