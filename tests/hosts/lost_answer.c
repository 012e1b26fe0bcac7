/* The exclusive owner's answer to a recall, with the only current bytes, lost with its connection
 * (docs/protocol.md, "An owner's answer lost with its connection"). Node 2 writes a word of node 1's
 * memory (so it holds the page exclusive: the home's bytes are old), then drops its own answers on
 * node 1's connection to it. Node 0 reads the word: the home recalls node 2's copy (a downgrade),
 * node 2 gives its bytes in an answer that stalls in TCP retransmission, and node 0's read is VOID
 * at its deadline. Node 2 then resets what node 1 sends on that connection, which closes it at
 * node 1 with the answer unread, and lets packets through again. The bytes are gone: node 2 keeps
 * only a read-only copy, and the home never got them. Node 0 reads the word again: the home must
 * not serve its older bytes (0) as the page's; it says VOID (the page is lost).
 * With the argument `owner`, node 2 asks instead: it stores into its read-only copy, and the home,
 * which still counts it as the owner, must not grant it the page with its older bytes (the word
 * next to the stored one would read 0): the store raises SIGBUS (VOID), or keeps node 2's bytes.
 * Run by on_hosts.sh with 3 nodes, as root. */
#include "cluster_check.h"
#include "link_cut.h"

#include <stdint.h>
#include <string.h>

#define WRITTEN 43u
#define NEXT_TO_IT 44u /* written with WRITTEN, in the word after it */

static uint64_t invalidations_received(Seraph_Aether* a) {
    uint64_t hits, misses, fetches, sent, received;
    seraph_aether_get_stats(a, &hits, &misses, &fetches, &sent, &received);
    return received;
}

static void signal_node0(Seraph_Aether* a, uint64_t signals, int which) {
    const uint64_t one = 1;
    CHECK(seraph_aether_write(a, signals + 8 * (uint64_t)which, &one, sizeof one).status == SERAPH_AETHER_OK);
}

static void wait_signal(Seraph_Aether* a, uint64_t signals, int which) {
    const double t0 = now_ms();
    while (api_read(a, signals + 8 * (uint64_t)which, NULL) != 1) CHECK(now_ms() - t0 < 30000);
}

int main(int argc, char** argv) {
    const int owner_asks = argc > 1 && strcmp(argv[1], "owner") == 0;
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const double deadline = seraph_aether_get_timeout_ms(&a);

    const uint64_t word = share_block(&a, 1, 4096, "word");       /* node 1's memory */
    const uint64_t signals = share_block(&a, 0, 4096, "signals"); /* node 0's: [0] cut, [1] read VOID, [2] reset, [3]-[5] done */
    if (me == 2) {                                                /* exclusive here: the home's bytes are old */
        *(volatile uint64_t*)word = WRITTEN;
        *(volatile uint64_t*)(word + 8) = NEXT_TO_IT;
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 2) {
        const uint64_t before = invalidations_received(&a);
        cut_answers_to(node_host(1), node_port(2));
        signal_node0(&a, signals, 0);
        wait_signal(&a, signals, 1);
        /* The recall came, and its answer is stuck here: the copy was downgraded, its bytes sent. */
        double t0 = now_ms();
        while (invalidations_received(&a) == before) CHECK(now_ms() - t0 < 20 * deadline);
        CHECK(*(volatile uint64_t*)word == WRITTEN); /* read-only now: a load is no fault */
        reset_requests_from(node_host(1), node_port(2));
        t0 = now_ms();
        while (resets_sent() == 0) CHECK(now_ms() - t0 < 60000); /* node 1 retransmits the recall */
        heal();
        printf("node 2: answered the recall with its bytes; the answer's connection was reset at the home\n");
        if (owner_asks) {
            /* A store faults on the read-only copy and asks the home for the page exclusive. */
            catch_sigbus();
            volatile int stored = 0;
            if (sigsetjmp(bus_jump, 1) == 0) {
                *(volatile uint64_t*)word = WRITTEN + 2;
                stored = 1;
            }
            if (stored) {
                const uint64_t next = *(volatile uint64_t*)(word + 8);
                if (next != NEXT_TO_IT)
                    fprintf(stderr, "node 2: after its store the next word reads %llu, the home's older bytes, not %u\n",
                            (unsigned long long)next, NEXT_TO_IT);
                CHECK(next == NEXT_TO_IT);
                printf("node 2: its store went through on its own bytes\n");
            } else {
                const Seraph_Aether_Void_Reason why = seraph_aether_get_void_reason();
                CHECK(why == SERAPH_AETHER_VOID_NODE_CRASHED);
                printf("node 2: its store raised SIGBUS (%s): the page is lost, not stale\n",
                       seraph_aether_void_reason_name(why));
            }
            signal_node0(&a, signals, 3);
        } else {
            signal_node0(&a, signals, 2);
            wait_signal(&a, signals, 3);
            CHECK(*(volatile uint64_t*)word == WRITTEN); /* its read-only copy still holds the last write */
        }
        signal_node0(&a, signals, 4);
    } else if (me == 0) {
        wait_signal(&a, signals, 0);
        Seraph_Aether_Fetch_Result r;
        double t0 = now_ms();
        uint64_t v = api_read(&a, word, &r);
        const double took = now_ms() - t0;
        /* The home has no current bytes to give until node 2's answer comes, which it never does. */
        if (v != SERAPH_VOID_U64) fprintf(stderr, "node 0: the first read gave %llu, not VOID\n", (unsigned long long)v);
        CHECK(v == SERAPH_VOID_U64);
        CHECK(took < deadline + 500);
        printf("node 0: the first read VOID (%s) after %.0f ms\n", seraph_aether_void_reason_name(r.reason), took);
        signal_node0(&a, signals, 1);
        if (owner_asks) {
            wait_signal(&a, signals, 4);
            wait_signal(&a, signals, 5);
            seraph_aether_destroy(&a);
            return 0;
        }
        wait_signal(&a, signals, 2);
        /* Now the home asks node 2 again; it has no bytes to send. The home's are older than node 2's
         * write: never to be read as the word's. */
        t0 = now_ms();
        for (;;) {
            CHECK(now_ms() - t0 < 30000);
            v = api_read(&a, word, &r);
            if (v == SERAPH_VOID_U64 && r.reason != SERAPH_AETHER_VOID_NODE_CRASHED) continue; /* not settled yet */
            break;
        }
        if (v != SERAPH_VOID_U64 && v != WRITTEN)
            fprintf(stderr, "node 0: read %llu after the lost answer: the home's older bytes, not node 2's write %u\n",
                    (unsigned long long)v, WRITTEN);
        CHECK(v == SERAPH_VOID_U64 || v == WRITTEN);
        printf("node 0: then %s\n", v == WRITTEN ? "node 2's write" : "VOID (NODE_CRASHED): the page is lost, not stale");
        signal_node0(&a, signals, 3);
        wait_signal(&a, signals, 4);
    }
    /* No closing barrier: the resets made node 2 look gone to node 1 (a refused connection is a
     * process gone), and barriers fail meanwhile. The home stays until everything was checked,
     * node 0 until the home has seen that. */
    if (me == 1) {
        wait_signal(&a, signals, 4);
        signal_node0(&a, signals, 5);
    } else if (me == 0) {
        wait_signal(&a, signals, 5);
    }
    seraph_aether_destroy(&a);
    return 0;
}
