/* A symmetric cut that heals: node 1's host loses its link (its interface is set down in its own
 * network namespace, as a pulled cable) for three deadlines, while nodes 0 and 2 read and write
 * node 1's memory in tight loops, by API and by pointer; then the link comes back.
 *
 *   - every access finishes within the deadline (plus scheduling slack), VOID with TIMEOUT,
 *     UNREACHABLE or PARTITION while the link is down: no thread hangs;
 *   - the failure detector names node 1 SUSPECTED during the cut, and UP after it;
 *   - after the heal, accesses work again without restarting any process;
 *   - no acknowledged write is lost: each of nodes 0 and 2 counts up a word of its own in node 1's
 *     memory by API writes, and at the end reads back its last count; by pointer it never reads
 *     less in between.
 *
 * With LINK_DOWN_PLAIN_STORES=1 every other count-up is a plain store instead (a store that
 * completes is as good as acknowledged: it is in this node's exclusive copy; one that cannot
 * raises SIGBUS, VOID). It found a recall sent during the cut, delivered after the heal, taking
 * the writer's newer exclusive copy (about 1 run in 40: a plain load returned the count before an
 * acknowledged write; docs/protocol.md, "Messages that arrive late").
 *
 * Run by on_hosts.sh with 3 nodes, as root. Each looping node prints how long the cut took to
 * show and the heal to clear. */
#include "cluster_check.h"
#include "link_cut.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define AFTER_HEAL 50 /* successful rounds after the heal before a node stops */

static int node1_up(void* a) { return seraph_aether_get_node_state((Seraph_Aether*)a, 1) == SERAPH_AETHER_NODE_UP; }

static void set_link(const char* state) {
    char cmd[256];
    /* The namespace's one interface besides loopback (on_hosts.sh's veth end). */
    snprintf(cmd, sizeof cmd, "ip link set dev \"$(ls /sys/class/net | grep -vx lo)\" %s", state);
    CHECK(system(cmd) == 0);
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    const double deadline = seraph_aether_get_timeout_ms(&a);
    /* Node 1's memory: a page for node 0's count, one for node 2's. */
    const uint64_t counts = share_block(&a, 1, 3 * 4096, "counts");
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 1) {
        const struct timespec settle = {0, 200 * 1000 * 1000};
        nanosleep(&settle, NULL); /* the others are in their loops */
        set_link("down");
        const struct timespec cut = {(time_t)(3 * deadline / 1000), (long)(3 * (long)deadline % 1000) * 1000000L};
        nanosleep(&cut, NULL); /* the length of the cut is what is being tested */
        set_link("up");
        printf("node 1: link down for %.0f ms, up again\n", 3 * deadline);
        CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
        seraph_aether_destroy(&a);
        return 0;
    }

    catch_sigbus();
    const char* stores_env = getenv("LINK_DOWN_PLAIN_STORES");
    const int plain_stores = stores_env != NULL && strcmp(stores_env, "1") == 0;
    const uint64_t mine = counts + (uint64_t)me * 4096;
    uint64_t acked = 0, rounds = 0, voids = 0;
    double worst = 0, first_void = -1, healed = -1, suspected_at = -1;
    const double start = now_ms();
    int after_heal = 0;
    while (after_heal < AFTER_HEAL) {
        CHECK(now_ms() - start < 60000); /* the cut is 3 deadlines long; this is far beyond it */
        ++rounds;
        /* Count up, by API and by plain store in turn. */
        /* The VOID context is not cleared: a load of a page that stands VOID (since an earlier
         * access found it so) reads the pattern without faulting, and the context still names
         * that access's reason. */
        const uint64_t next = acked + 1;
        double t0 = now_ms();
        volatile int ok = 0; /* set after sigsetjmp: must survive the jump */
        if (!plain_stores || rounds % 2 == 0) {
            Seraph_Aether_Fetch_Result w = seraph_aether_write(&a, mine, &next, sizeof next);
            ok = w.status == SERAPH_AETHER_OK;
            if (!ok) CHECK(cut_reason(w.reason));
        } else if (sigsetjmp(bus_jump, 1) == 0) {
            *(volatile uint64_t*)(uintptr_t)mine = next;
            ok = 1;
        } else {
            CHECK(cut_reason(seraph_aether_get_void_reason()));
        }
        double took = now_ms() - t0;
        if (took > worst) worst = took;
        if (took >= deadline + 500)
            fprintf(stderr, "node %u: %s at %.0f ms took %.0f ms (%s)\n", me,
                    !plain_stores || rounds % 2 == 0 ? "API write" : "plain store", t0 - start, took, ok ? "done" : "VOID");
        CHECK(took < deadline + 500);
        if (ok) acked = next;
        /* By pointer: never less than what was acknowledged. */
        t0 = now_ms();
        const uint64_t seen = *(volatile uint64_t*)(uintptr_t)mine;
        took = now_ms() - t0;
        if (took > worst) worst = took;
        CHECK(took < deadline + 500);
        if (seen == SERAPH_VOID_U64) {
            CHECK(cut_reason(seraph_aether_get_void_reason()));
            ok = 0;
        } else {
            if (seen < acked)
                fprintf(stderr, "node %u: round %llu at %.0f ms: read %llu by pointer after %llu was acknowledged\n", me,
                        (unsigned long long)rounds, now_ms() - start, (unsigned long long)seen, (unsigned long long)acked);
            CHECK(seen >= acked);
        }
        if (suspected_at < 0 && seraph_aether_get_node_state(&a, 1) == SERAPH_AETHER_NODE_SUSPECTED)
            suspected_at = now_ms() - start;
        if (!ok) {
            ++voids;
            if (first_void < 0) first_void = now_ms() - start;
            after_heal = 0;
            healed = -1;
        } else if (first_void >= 0) {
            if (healed < 0) healed = now_ms() - start;
            ++after_heal;
        }
    }
    CHECK(first_void >= 0);                        /* the cut was seen */
    CHECK(suspected_at >= 0);                      /* and the failure detector named node 1 SUSPECTED meanwhile */
    CHECK(wait_until(node1_up, &a, 2 * deadline)); /* at the detector's next look, within a heartbeat */
    uint64_t count = 0;
    CHECK(seraph_aether_read_vbit(&a, mine, &count, sizeof count) == SERAPH_VBIT_TRUE);
    CHECK(count == acked);
    printf("node %u: %llu rounds, %llu VOID; first VOID at %.0f ms, node 1 suspected at %.0f ms, working again at %.0f ms; "
           "slowest access %.0f ms; count %llu, as acknowledged\n",
           me, (unsigned long long)rounds, (unsigned long long)voids, first_void, suspected_at, healed, worst,
           (unsigned long long)count);
    CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
