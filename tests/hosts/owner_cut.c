/* The exclusive owner of a page cut off from the page's home, alive: the page is never declared
 * lost, and its bytes are never stale. Node 0 writes a word of node 1's memory (so it holds the
 * page exclusive, the only current bytes), then cuts itself off from node 1 with nftables in its
 * own namespace (drop, or reset + ICMP reject: link_cut.h). Meanwhile:
 *   - node 0 can no longer use its copy once its lease ran out: a load is VOID and a store raises
 *     SIGBUS, each within the deadline;
 *   - node 2 never reads the home's old bytes: every read is VOID while node 0 is cut off;
 *   - after the heal, node 2 and node 0 read node 0's write: nothing was lost, no process restarted.
 * Run by on_hosts.sh with 3 nodes, as root: `owner_cut drop|reject`. */
#include "cluster_check.h"
#include "link_cut.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#define WRITTEN 7u

int main(int argc, char** argv) {
    CHECK(argc == 2 && cut_mode_ok(argv[1]));
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline = seraph_aether_get_timeout_ms(&a);
    const char* lease_env = getenv("AETHER_LEASE_MS");
    CHECK(lease_env != NULL);
    const double lease = atof(lease_env);

    const uint64_t word = share_block(&a, 1, 4096, "word");       /* node 1's memory */
    const uint64_t signals = share_block(&a, 2, 4096, "signals"); /* node 2's: [0] cut in place, [1] node 2 done */
    if (me == 0) *(volatile uint64_t*)word = WRITTEN;             /* exclusive here: the home's bytes are old */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 0) {
        cut_from(node_host(1), argv[1]);
        const double cut_at = now_ms();
        uint64_t before = 0;
        CHECK(seraph_aether_fetch_add_u64(&a, signals, 1, &before) == SERAPH_VBIT_TRUE);
        /* Until the lease runs out the copy is still node 0's to use; after it, a load is VOID. */
        volatile double void_at = -1;
        while (void_at < 0) {
            CHECK(now_ms() - cut_at < lease + 3 * deadline);
            const uint64_t v = *(volatile uint64_t*)word;
            if (v == SERAPH_VOID_U64)
                void_at = now_ms() - cut_at;
            else
                CHECK(v == WRITTEN);
        }
        /* ...and a store raises SIGBUS: the set-aside copy cannot be written any more. */
        catch_sigbus();
        const double t0 = now_ms();
        if (sigsetjmp(bus_jump, 1) == 0) {
            *(volatile uint64_t*)word = WRITTEN + 1;
            CHECK(!"a store to a copy whose lease ran out went through");
        }
        const double store_took = now_ms() - t0;
        if (store_took >= deadline + 500) fprintf(stderr, "node 0: the store took %.0f ms to fail\n", store_took);
        CHECK(bus_addr == word);
        CHECK(store_took < deadline + 500);
        const double wait = now_ms();
        while (api_read(&a, signals + 8, NULL) != 1) CHECK(now_ms() - wait < 60000);
        heal();
        const double healed_at = now_ms();
        uint64_t v;
        while ((v = api_read(&a, word, NULL)) == SERAPH_VOID_U64) CHECK(now_ms() - healed_at < 30000);
        if (v != WRITTEN) fprintf(stderr, "node 0: read %llu after the heal\n", (unsigned long long)v);
        CHECK(v == WRITTEN);
        printf("node 0 (%s): its copy VOID %.0f ms after the cut, a store SIGBUS; its write read back %.0f ms after the heal\n",
               argv[1], void_at, now_ms() - healed_at);
    } else if (me == 2) {
        const double wait = now_ms();
        while (api_read(&a, signals, NULL) != 1) CHECK(now_ms() - wait < 30000);
        /* Past the lease and a deadline more: the home has fenced node 0 by then, and the page
         * still is not lost, nor are the home's old bytes served. */
        const double t0 = now_ms();
        long tries = 0;
        while (now_ms() - t0 < lease + 2 * deadline) {
            const double t = now_ms();
            CHECK(api_read(&a, word, NULL) == SERAPH_VOID_U64); /* never the home's old 0 */
            CHECK(now_ms() - t < deadline + 500);
            ++tries;
        }
        const uint64_t one = 1;
        CHECK(seraph_aether_write(&a, signals + 8, &one, sizeof one).status == SERAPH_AETHER_OK);
        const double after = now_ms();
        uint64_t v;
        while ((v = api_read(&a, word, NULL)) == SERAPH_VOID_U64) CHECK(now_ms() - after < 30000);
        if (v != WRITTEN) fprintf(stderr, "node 2: read %llu after the heal\n", (unsigned long long)v);
        CHECK(v == WRITTEN);
        printf("node 2 (%s): %ld reads VOID while node 0 was cut off; then node 0's write, not lost\n", argv[1], tries);
    }
    const double t0 = now_ms();
    while (seraph_aether_barrier(&a, 5000) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t0 < 60000);
    seraph_aether_destroy(&a);
    return 0;
}
