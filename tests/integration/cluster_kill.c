/* A node is killed with SIGKILL while the others use its memory: every operation on it comes back
 * VOID within the deadline, the barrier too, and nothing hangs. argv[1]: the victim's node id. */
#include "cluster_check.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* How many nodes other than the victim have come out of the barrier, counted at the victim. */
struct out_of_barrier {
    Seraph_Aether* a;
    uint64_t addr;
    uint64_t others;
};

static int all_out_of_barrier(void* arg) {
    const struct out_of_barrier* o = arg;
    uint64_t count = 0;
    CHECK(seraph_aether_fetch_add_u64(o->a, o->addr, 0, &count) == SERAPH_VBIT_TRUE);
    return count == o->others;
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    const uint16_t victim = (uint16_t)atoi(argv[1]);
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline_ms = seraph_aether_get_timeout_ms(&a);

    if (me == victim) {
        uint64_t mem = seraph_aether_alloc(&a, 4 * 4096);
        CHECK(mem != SERAPH_VOID_U64);
        uint64_t pattern[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        CHECK(seraph_aether_write_vbit(&a, mem, pattern, sizeof pattern) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "victim", mem) == SERAPH_VBIT_TRUE);
    }
    uint64_t mem = seraph_aether_lookup(&a, "victim", 10000);
    CHECK(mem != SERAPH_VOID_U64);
    uint64_t got[8];
    CHECK(seraph_aether_read_vbit(&a, mem, got, sizeof got) == SERAPH_VBIT_TRUE);
    CHECK(got[7] == 8);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);

    /* A node that crashes while its barrier completes may leave the others with VOID (they
     * cannot tell whether it completed); this test is about what happens after it. So each of the
     * others counts itself out of the barrier in the victim's memory, after the pattern, and the
     * victim dies only once all have. */
    struct out_of_barrier out = {&a, mem + sizeof got, (uint64_t)a.node_count - 1};
    if (me == victim) {
        CHECK(wait_until(all_out_of_barrier, &out, 10000));
        printf("node %u: killing myself\n", me);
        fflush(stdout);
        raise(SIGKILL);
    }
    /* The victim may die as soon as it counted this one: the reply can be lost to that. */
    uint64_t old = 0;
    seraph_aether_clear_void_context();
    CHECK(seraph_aether_fetch_add_u64(&a, out.addr, 1, &old) == SERAPH_VBIT_TRUE ||
          seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);

    /* Keep using the victim's memory until it is gone; each call must end within its deadline. */
    int failures = 0;
    double worst = 0;
    for (int i = 0; i < 400 && failures < 5; ++i) {
        seraph_aether_cache_invalidate(&a, mem); /* read from the home, not from a copy */
        double t0 = now_ms();
        Seraph_Aether_Fetch_Result r = seraph_aether_read(&a, mem + 4096 * (unsigned)(i % 4), got, 8);
        double took = now_ms() - t0;
        if (took > worst) worst = took;
        CHECK(took < deadline_ms + 500);
        if (r.status != SERAPH_AETHER_OK) {
            ++failures;
            CHECK(r.reason == SERAPH_AETHER_VOID_NODE_CRASHED);
            CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);
            CHECK(seraph_aether_get_void_addr() == mem + 4096 * (unsigned)(i % 4));
        }
        usleep(10000);
    }
    CHECK(failures == 5);

    /* Every kind of operation on the dead node is VOID in time. */
    double t0 = now_ms();
    uint64_t v = 9;
    CHECK(seraph_aether_write_vbit(&a, mem, &v, 8) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_fetch_add_u64(&a, mem, 1, &old) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_cas_u64(&a, mem, 0, 1, &old) == SERAPH_VBIT_VOID);
    CHECK(seraph_aether_alloc_on_node(&a, victim, 64) == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_generation(&a, mem) == SERAPH_VOID_U64);
    CHECK(now_ms() - t0 < 5 * (deadline_ms + 500));

    /* The barrier cannot complete without the victim: VOID, well before its own deadline. */
    t0 = now_ms();
    CHECK(seraph_aether_barrier(&a, 8000) == SERAPH_VBIT_VOID);
    double barrier_ms = now_ms() - t0;
    CHECK(barrier_ms < 7000);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_NODE_CRASHED);

    printf("node %u: node %u is gone: reads VOID (NODE_CRASHED), slowest call %.0f ms, barrier VOID after %.0f ms\n", me, victim,
           worst, barrier_ms);
    seraph_aether_destroy(&a);
    return 0;
}
