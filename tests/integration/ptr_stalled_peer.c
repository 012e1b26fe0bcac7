/* A stalled node must not stall faults on healthy ones. Node 1 is stopped with SIGSTOP; a thread
 * of node 0 faults on node 1's memory and waits (until its deadline: a load reads VOID; with
 * AETHER_VOID_POLICY=block a store waits until node 1 runs again); meanwhile another thread of
 * node 0 reads node 2's pages by pointer 1,000 times, each read a fault of its own. Every one of
 * those reads must take far less than the deadline. Then node 1 is continued. Needs 3 nodes.
 * argv[1]: "load" (default) or "store" (run with AETHER_VOID_POLICY=block). */
#include "cluster_check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define READS 1000
#define PAGES 64

static Seraph_Aether a;
static uint64_t stalled_page; /* on node 1 */
static int store_mode;
static atomic_int in_fault;   /* the stalled access is about to start */
static atomic_int fault_done; /* ... and has ended */
static uint64_t stalled_result;

static void* stalled_access(void* arg) {
    (void)arg;
    atomic_store(&in_fault, 1);
    if (store_mode)
        *(volatile uint64_t*)stalled_page = 99; /* waits for node 1 (block policy) */
    else
        stalled_result = *(volatile uint64_t*)stalled_page; /* VOID at the deadline */
    atomic_store(&fault_done, 1);
    return NULL;
}

int main(int argc, char** argv) {
    store_mode = argc > 1 && strcmp(argv[1], "store") == 0;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    if (me == 0) {
        uint64_t pid_word = seraph_aether_alloc_on_node(&a, 0, 8);
        uint64_t healthy = seraph_aether_alloc_on_node(&a, 2, PAGES * 4096);
        uint64_t stalled = seraph_aether_alloc_on_node(&a, 1, 4096);
        CHECK(pid_word != SERAPH_VOID_U64 && healthy != SERAPH_VOID_U64 && stalled != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "pid", pid_word) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "healthy", healthy) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "stalled", stalled) == SERAPH_VBIT_TRUE);
    }
    const uint64_t pid_word = seraph_aether_lookup(&a, "pid", 10000);
    if (me == 1) {
        uint64_t pid = (uint64_t)getpid();
        CHECK(seraph_aether_write_vbit(&a, pid_word, &pid, 8) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me != 0) {
        /* Node 1 is stopped and continued by node 0; both wait for the end here. */
        CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
        seraph_aether_destroy(&a);
        return 0;
    }

    const uint64_t healthy = seraph_aether_lookup(&a, "healthy", 10000);
    stalled_page = seraph_aether_lookup(&a, "stalled", 10000);
    uint64_t pid1 = 0;
    CHECK(seraph_aether_read_vbit(&a, pid_word, &pid1, 8) == SERAPH_VBIT_TRUE && pid1 > 1);
    const uint32_t deadline_ms = seraph_aether_get_timeout_ms(&a);

    CHECK(kill((pid_t)pid1, SIGSTOP) == 0);
    CHECK(wait_until(all_threads_stopped, (void*)(intptr_t)pid1, 5000));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, stalled_access, NULL) == 0);
    while (!atomic_load(&in_fault)) {}

    /* The healthy node's pages, each read a fresh fault: the copy is dropped after every read. */
    double worst = 0, total = 0;
    for (int i = 0; i < READS; ++i) {
        const uint64_t addr = healthy + (uint64_t)((i * 7) % PAGES) * 4096; /* not a sequential scan */
        const double t0 = now_ms();
        uint64_t v = *(volatile uint64_t*)addr;
        const double took = now_ms() - t0;
        CHECK(v == 0);
        seraph_aether_cache_invalidate(&a, addr);
        total += took;
        if (took > worst) worst = took;
    }
    const int overlapped = !atomic_load(&fault_done);
    printf("node 0: %d reads of node 2 during a %s of stopped node 1: mean %.3f ms, worst %.3f ms (deadline %u ms)\n", READS,
           store_mode ? "store" : "load", total / READS, worst, deadline_ms);
    CHECK(overlapped); /* all of them happened while the stalled access waited */
    CHECK(worst < deadline_ms / 10.0);

    if (store_mode) {
        /* The block policy: the store still waits, and lands once node 1 runs again. */
        CHECK(!atomic_load(&fault_done));
        CHECK(kill((pid_t)pid1, SIGCONT) == 0);
        pthread_join(t, NULL);
        uint64_t v = 0;
        CHECK(seraph_aether_read_vbit(&a, stalled_page, &v, 8) == SERAPH_VBIT_TRUE && v == 99);
    } else {
        pthread_join(t, NULL);
        CHECK(stalled_result == SERAPH_VOID_U64);
        CHECK(kill((pid_t)pid1, SIGCONT) == 0);
    }
    CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
