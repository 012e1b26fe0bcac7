/* The seed document's usage example, step by step, on a cluster of three processes:
 * node 0 allocates a struct in node 1's memory and writes it, node 2 reads it back, node 1 is
 * taken down (SIGKILL), and node 0 sees the access come back VOID with its reason.
 *
 *   aether-run -n 3 --expect 1=SIGKILL -- ./seed_usage
 */
#define _POSIX_C_SOURCE 200809L
#include <seraph/aether.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t counter;
    char name[64];
} SharedData;

static void fail(const char* what) {
    fprintf(stderr, "%s: VOID (%s)\n", what, seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
    _exit(1);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, so the nodes' stories interleave in order */

    /* Join the cluster aether-run started (AETHER_NODE_ID, AETHER_NODE_COUNT, AETHER_PEERS). */
    Seraph_Aether aether;
    if (!seraph_vbit_is_true(seraph_aether_init_from_env(&aether))) return 1;
    const uint16_t me = aether.local_node_id;
    printf("node %u of %u: joined\n", me, aether.node_count);
    if (seraph_vbit_is_void(seraph_aether_barrier(&aether, 20000))) fail("barrier");
    int exit_code = 0;

    if (me == 0) {
        /* Allocate the data structure on node 1. */
        uint64_t remote_addr = seraph_aether_alloc_on_node(&aether, 1, sizeof(SharedData));
        if (remote_addr == SERAPH_VOID_U64) fail("alloc on node 1");
        printf("allocated %zu bytes on node %u at %#llx (a pointer valid on every node)\n", sizeof(SharedData),
               seraph_aether_get_node(remote_addr), (unsigned long long)remote_addr);

        /* Write to the remote node. */
        SharedData data = {.counter = 42};
        strcpy(data.name, "shared counter");
        Seraph_Aether_Fetch_Result w = seraph_aether_write(&aether, remote_addr, &data, sizeof data);
        if (w.status != SERAPH_AETHER_OK) fail("write");
        printf("wrote {counter = 42, name = \"shared counter\"} into node 1's memory (page generation %llu)\n",
               (unsigned long long)w.generation);
        seraph_aether_publish(&aether, "shared", remote_addr);
    }

    if (me == 2) {
        /* Read it from another node: fetched from node 1 and cached here. */
        uint64_t remote_addr = seraph_aether_lookup(&aether, "shared", 10000);
        SharedData read_data;
        Seraph_Vbit result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof read_data);
        if (seraph_vbit_is_void(result)) fail("read");
        printf("read back from node 1: Counter: %llu, Name: %s\n", (unsigned long long)read_data.counter, read_data.name);
    }
    if (seraph_vbit_is_void(seraph_aether_barrier(&aether, 20000))) fail("barrier");

    if (me == 1) {
        /* Take node 1 down: not a clean exit, a crash. */
        printf("taking node 1 down (SIGKILL)\n");
        fflush(stdout);
        raise(SIGKILL);
    }

    if (me == 0) {
        /* Now reads return VOID, with the reason, within the deadline: never a hang or a crash. Once
         * node 1 is known to be down (a moment after it died), a copy of its memory cached here
         * reads VOID too. */
        uint64_t remote_addr = seraph_aether_lookup(&aether, "shared", 10000);
        SharedData read_data;
        bool saw_void = false;
        for (int attempt = 0; attempt < 100; ++attempt) {
            Seraph_Vbit result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof read_data);
            if (seraph_vbit_is_void(result)) {
                printf("Remote access failed: VOID, reason %s (%d), at %#llx\n",
                       seraph_aether_void_reason_name(seraph_aether_get_void_reason()), seraph_aether_get_void_reason(),
                       (unsigned long long)seraph_aether_get_void_addr());
                saw_void = true;
                break;
            }
            sleep_ms(20); /* node 1 is still going down */
        }
        if (!saw_void) {
            fprintf(stderr, "a read of node 1's memory never came back VOID after node 1 went down\n");
            exit_code = 1;
        }
        Seraph_Vbit b = seraph_aether_barrier(&aether, 5000);
        printf("a barrier over all nodes is %s (%s)\n", seraph_vbit_is_void(b) ? "VOID" : "TRUE",
               seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
        if (!seraph_vbit_is_void(b)) {
            fprintf(stderr, "a barrier over all nodes was not VOID with node 1 down\n");
            exit_code = 1;
        }
    }
    seraph_aether_destroy(&aether);
    return exit_code;
}
