/* A partition that heals, asymmetric: node 0 is cut off from node 1 only (nftables rules in node 0's
 * own network namespace: silently dropped packets, or resets and ICMP rejects), while node 2 still
 * reaches node 1 and writes a word of node 1's memory that node 0 holds a copy of.
 *
 *   - node 2's write is acknowledged within the lease plus one deadline of the cut (the home
 *     forgets node 0's copy once node 0's lease on it has run out, without node 0's answer);
 *   - node 0 never reads the old value, by pointer or by API, once node 2's write was acknowledged:
 *     it reads VOID (TIMEOUT, UNREACHABLE or PARTITION) until the heal, each access within the deadline;
 *   - after the heal node 0 reads the new value, with no process restarted.
 *
 * Run by on_hosts.sh with 3 nodes, as root: `partition_heal drop|reject`. Node 0 prints how long
 * the cut took to show as VOID and the heal to show as the new value; node 2 how long its write took. */
#include "cluster_check.h"
#include "link_cut.h"

#include <stdint.h>
#include <string.h>

#define OLD 1u
#define NEW 2u

int main(int argc, char** argv) {
    CHECK(argc == 2 && cut_mode_ok(argv[1]));
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline = seraph_aether_get_timeout_ms(&a);
    const char* lease_env = getenv("AETHER_LEASE_MS");
    CHECK(lease_env != NULL); /* the bound this test checks */
    const double lease = atof(lease_env);

    const uint64_t word = share_block(&a, 1, 4096, "word");       /* node 1's memory */
    const uint64_t signals = share_block(&a, 2, 4096, "signals"); /* node 2's: [0] cut in place, [1] write acknowledged */
    if (me == 1) {
        const uint64_t old = OLD;
        CHECK(seraph_aether_write(&a, word, &old, sizeof old).status == SERAPH_AETHER_OK);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me != 1) CHECK(*(volatile uint64_t*)word == OLD); /* a copy of it, by pointer */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 0) {
        const char* host = node_host(1);
        cut_from(host, argv[1]);
        const double cut_at = now_ms();
        uint64_t before = 0;
        CHECK(seraph_aether_fetch_add_u64(&a, signals, 1, &before) == SERAPH_VBIT_TRUE); /* node 2 is still reachable */
        double first_void = -1, worst = 0, ack_seen = -1;
        long after_ack = 0, old_reads = 0, voids = 0;
        /* After the ack: 200 accesses, or fewer if they are slow (each VOID access that asks the
         * home waits out its deadline), but two deadlines' worth at least. */
        while (after_ack < 200 && !(after_ack >= 2 && now_ms() - ack_seen > 2 * deadline)) {
            if (now_ms() - cut_at >= 60000)
                fprintf(stderr, "node 0: still looping: ack seen %s, %ld accesses after it, %ld VOID, %ld old reads\n",
                        ack_seen < 0 ? "no" : "yes", after_ack, voids, old_reads);
            CHECK(now_ms() - cut_at < 60000);
            Seraph_Aether_Fetch_Result r;
            const uint64_t acked = api_read(&a, signals + 8, &r);
            CHECK(r.status == SERAPH_AETHER_OK);
            /* by pointer, then by API, alternately */
            const double t0 = now_ms();
            uint64_t v;
            Seraph_Aether_Void_Reason why = SERAPH_AETHER_VOID_NONE;
            if ((voids + old_reads + after_ack) % 2 == 0) {
                v = *(volatile uint64_t*)word;
                if (v == SERAPH_VOID_U64) why = seraph_aether_get_void_reason();
            } else {
                v = api_read(&a, word, &r);
                why = r.reason;
            }
            const double took = now_ms() - t0;
            if (took > worst) worst = took;
            CHECK(took < deadline + 500);
            if (v == SERAPH_VOID_U64) {
                CHECK(cut_reason(why));
                if (first_void < 0) first_void = now_ms() - cut_at;
                ++voids;
            } else {
                CHECK(v == OLD || v == NEW);
                if (acked) CHECK(v != OLD); /* never stale once node 2's write was acknowledged */
                if (v == OLD) ++old_reads;
            }
            if (acked) {
                if (ack_seen < 0) ack_seen = now_ms();
                ++after_ack;
            }
        }
        CHECK(first_void >= 0);
        heal();
        const double healed_at = now_ms();
        double back = -1;
        while (back < 0) {
            CHECK(now_ms() - healed_at < 30000);
            const uint64_t v = *(volatile uint64_t*)word;
            CHECK(v == NEW || v == SERAPH_VOID_U64);
            if (v == NEW) back = now_ms() - healed_at;
        }
        Seraph_Aether_Fetch_Result r;
        CHECK(api_read(&a, word, &r) == NEW);
        printf("node 0 (%s): first VOID %.0f ms after the cut (%ld VOID, %ld old reads before the ack, slowest access %.0f ms);"
               " the new value %.0f ms after the heal\n",
               argv[1], first_void, voids, old_reads, worst, back);
    } else if (me == 2) {
        Seraph_Aether_Fetch_Result r;
        const double waited = now_ms();
        while (api_read(&a, signals, &r) != 1) CHECK(now_ms() - waited < 30000);
        const double t0 = now_ms();
        const uint64_t v = NEW;
        int attempts = 0;
        for (;;) {
            ++attempts;
            CHECK(now_ms() - t0 < 30000);
            if (seraph_aether_write(&a, word, &v, sizeof v).status == SERAPH_AETHER_OK) break;
        }
        const double took = now_ms() - t0;
        const uint64_t one = 1;
        CHECK(seraph_aether_write(&a, signals + 8, &one, sizeof one).status == SERAPH_AETHER_OK);
        printf("node 2 (%s): write acknowledged %.0f ms after the cut, %d attempt(s); bound: lease %.0f + deadline %.0f ms\n",
               argv[1], took, attempts, lease, deadline);
        CHECK(took <= lease + deadline);
    }
    /* Node 1 could not reach node 0 (the barrier's coordinator) until the heal: it tries again. */
    const double t0 = now_ms();
    while (seraph_aether_barrier(&a, 5000) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t0 < 60000);
    seraph_aether_destroy(&a);
    return 0;
}
