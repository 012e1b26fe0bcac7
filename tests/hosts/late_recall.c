/* A recall that reaches the exclusive owner after the home gave up on it. Node 2 writes a word of
 * node 1's memory (so it holds the page exclusive: the only current bytes), then drops what node 1
 * sends to its listening port: node 1's requests to node 2 (recalls, heartbeats) stall in TCP
 * retransmission, while node 2's own requests to node 1, and their answers, pass (its lease stays
 * valid: it may go on using its copy). Node 0 writes the word through the API: the home recalls
 * node 2's copy, the recall does not arrive, and node 0's write is VOID at its deadline. Then node 2
 * lets the packets through again, and TCP delivers the recall late. Node 2 gives up its copy and
 * answers with its bytes, which must not be lost: node 2 and node 0 read back node 2's write, never
 * the home's older bytes.
 * Run by on_hosts.sh with 3 nodes, as root. */
#include "cluster_check.h"
#include "link_cut.h"

#include <stdint.h>
#include <string.h>

#define WRITTEN 41u

static uint64_t invalidations_received(Seraph_Aether* a) {
    uint64_t hits, misses, fetches, sent, received;
    seraph_aether_get_stats(a, &hits, &misses, &fetches, &sent, &received);
    return received;
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline = seraph_aether_get_timeout_ms(&a);

    const uint64_t word = share_block(&a, 1, 4096, "word");       /* node 1's memory */
    const uint64_t signals = share_block(&a, 0, 4096, "signals"); /* node 0's: [0] cut, [1] write failed */
    if (me == 2) *(volatile uint64_t*)word = WRITTEN;             /* exclusive here: the home's bytes are old */
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 2) {
        cut_requests_from(node_host(1), node_port(2));
        const uint64_t one = 1;
        CHECK(seraph_aether_write(&a, signals, &one, sizeof one).status == SERAPH_AETHER_OK);
        double t0 = now_ms();
        while (api_read(&a, signals + 8, NULL) != 1) CHECK(now_ms() - t0 < 30000);
        /* No recall came through: the copy is still here, and still this node's to use. (The
         * signals page's invalidations came before: node 0 wrote it.) */
        CHECK(*(volatile uint64_t*)word == WRITTEN);
        const uint64_t before = invalidations_received(&a);
        heal();
        const double healed_at = now_ms();
        long loads = 0;
        double recalled_at = -1;
        /* The recall arrives with TCP's next retransmission; then a few hundred loads more, which
         * fetch the page again from the home. */
        for (long after_recall = 0; after_recall < 300; ++loads) {
            CHECK(now_ms() - healed_at < 20 * deadline);
            const uint64_t v = *(volatile uint64_t*)word;
            if (v != WRITTEN)
                fprintf(stderr, "node 2: load %ld, %.0f ms after the heal: %llu, not its write %u (%s)\n", loads,
                        now_ms() - healed_at, (unsigned long long)v, WRITTEN,
                        v == SERAPH_VOID_U64 ? seraph_aether_void_reason_name(seraph_aether_get_void_reason()) : "stale");
            CHECK(v == WRITTEN);
            if (recalled_at < 0 && invalidations_received(&a) > before) recalled_at = now_ms() - healed_at;
            if (recalled_at >= 0) ++after_recall;
        }
        printf("node 2: the late recall came %.0f ms after the heal; %ld loads, all %u\n", recalled_at, loads, WRITTEN);
    } else if (me == 0) {
        double t0 = now_ms();
        while (api_read(&a, signals, NULL) != 1) CHECK(now_ms() - t0 < 30000);
        const uint64_t mine = WRITTEN + 1;
        t0 = now_ms();
        Seraph_Aether_Fetch_Result w = seraph_aether_write(&a, word, &mine, sizeof mine);
        const double took = now_ms() - t0;
        /* The home cannot take node 2's copy, and node 2 is alive and in touch: the write fails. */
        CHECK(w.status != SERAPH_AETHER_OK);
        CHECK(cut_reason(w.reason));
        CHECK(took < deadline + 500);
        const uint64_t one = 1;
        CHECK(seraph_aether_write(&a, signals + 8, &one, sizeof one).status == SERAPH_AETHER_OK);
        printf("node 0: its write VOID (%s) after %.0f ms\n", seraph_aether_void_reason_name(w.reason), took);
    }
    const double t0 = now_ms();
    while (seraph_aether_barrier(&a, 5000) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t0 < 60000);
    if (me == 0) {
        uint64_t v;
        const double t1 = now_ms();
        while ((v = api_read(&a, word, NULL)) == SERAPH_VOID_U64) CHECK(now_ms() - t1 < 30000);
        if (v != WRITTEN) fprintf(stderr, "node 0: read %llu at the end, not node 2's %u\n", (unsigned long long)v, WRITTEN);
        CHECK(v == WRITTEN);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
