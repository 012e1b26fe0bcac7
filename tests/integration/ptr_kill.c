/* SIGKILL of the home while others read its pages by pointer: loads yield all-0xFF within the
 * deadline with the VOID context set, a store to the dead home's page raises SIGBUS, and nothing
 * hangs. Node 1 is the victim. */
#include "cluster_check.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>

#define PAGES 64

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline = seraph_aether_get_timeout_ms(&a);

    if (me == 1) {
        uint64_t mem = seraph_aether_alloc(&a, PAGES * 4096);
        CHECK(mem != SERAPH_VOID_U64);
        for (int p = 0; p < PAGES; ++p) ((volatile uint64_t*)(mem + 4096u * (unsigned)p))[0] = 100u + (unsigned)p;
        CHECK(seraph_aether_publish(&a, "pages", mem) == SERAPH_VBIT_TRUE);
    }
    uint64_t mem = seraph_aether_lookup(&a, "pages", 10000);
    CHECK(mem != SERAPH_VOID_U64);
    /* Read the first page by pointer while node 1 is alive (it stays cached here). */
    CHECK(((volatile uint64_t*)mem)[0] == 100);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 1) raise(SIGKILL);
    /* Wait until node 1 is gone and known to be: a barrier it cannot join fails NODE_CRASHED once
     * the coordinator's probe finds it dead. Loads racing with the death made this test flaky on
     * a busy machine: readahead brought in most pages while node 1 lived on after the barrier
     * (voids < PAGES / 2), and, about 1 run in 40, the VOID context of a load named the previous
     * load's address (a fault event of that earlier access handled again after the thread moved
     * on). The second is an open runtime bug (docs/protocol.md, "A home that is down"); this
     * test checks what holds once the death is known. */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);

    catch_sigbus();

    /* Pages never fetched here: loads yield VOID (all 0xFF), each within the deadline. */
    double worst = 0;
    int voids = 0;
    for (int p = 1; p < PAGES; ++p) {
        seraph_aether_clear_void_context();
        double t0 = now_ms();
        uint64_t v = ((volatile uint64_t*)(mem + 4096u * (unsigned)p))[1];
        double took = now_ms() - t0;
        if (took > worst) worst = took;
        CHECK(v == SERAPH_VOID_U64);
        ++voids;
        CHECK(took < deadline + 500);
        CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
        const uint64_t void_addr = seraph_aether_get_void_addr();
        if (void_addr != mem + 4096u * (unsigned)p + 8)
            fprintf(stderr, "node %u: page %d: VOID context names 0x%llx, the load was at 0x%llx\n", me, p,
                    (unsigned long long)void_addr, (unsigned long long)(mem + 4096u * (unsigned)p + 8));
        CHECK(void_addr == mem + 4096u * (unsigned)p + 8);
        unsigned char raw[64];
        memcpy(raw, (const void*)(mem + 4096u * (unsigned)p + 100), sizeof raw);
        for (size_t i = 0; i < sizeof raw; ++i) CHECK(raw[i] == 0xFF);
    }
    CHECK(voids == PAGES - 1);
    /* A store to the dead home's page is never silently dropped: SIGBUS. */
    bus_addr = 0;
    if (sigsetjmp(bus_jump, 1) == 0) {
        ((volatile uint64_t*)(mem + 4096u * (PAGES - 1)))[3] = 1;
        CHECK(!"the store to the dead home's page returned");
    }
    CHECK(bus_addr == mem + 4096u * (PAGES - 1) + 24);
    bus_addr = 0;
    if (sigsetjmp(bus_jump, 1) == 0) {
        ((volatile uint64_t*)mem)[2] = 1; /* the cached page too: writing needs the home */
        CHECK(!"the store to a cached page of the dead home returned");
    }
    CHECK(bus_addr == mem + 16);
    printf("node %u: node 1 killed: %d loads VOID (0xFF, NODE_CRASHED), slowest %.0f ms; stores SIGBUS\n", me, voids, worst);
    seraph_aether_destroy(&a);
    return 0;
}
