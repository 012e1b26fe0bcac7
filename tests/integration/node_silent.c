/* The failure detector. Node 1 answers, then falls silent (node 0 stops it with SIGSTOP) while
 * nothing at all is asked of it: node 0 must see it SUSPECTED within AETHER_SUSPECT_MS plus a
 * heartbeat period, and not much sooner. An access to node 1's memory then reads VOID, within the
 * deadline, with reason PARTITION (a node that was up and no longer answers). Continued, node 1 is
 * UP again within about one silence time and its memory reads normally, without any restart.
 * Needs 3 nodes and AETHER_SUSPECT_MS. */
#include "cluster_check.h"

#include <signal.h>
#include <unistd.h>

static Seraph_Aether a;

static int node1_is(void* state) { return seraph_aether_get_node_state(&a, 1) == (Seraph_Aether_Node_State)(intptr_t)state; }

int main(void) {
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    const char* suspect_env = getenv("AETHER_SUSPECT_MS");
    CHECK(suspect_env != NULL);
    const double suspect_ms = atof(suspect_env);
    if (me == 0) {
        uint64_t pid_word = seraph_aether_alloc_on_node(&a, 0, 8);
        uint64_t target = seraph_aether_alloc_on_node(&a, 1, 4096);
        CHECK(pid_word != SERAPH_VOID_U64 && target != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "pid", pid_word) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_publish(&a, "target", target) == SERAPH_VBIT_TRUE);
    }
    const uint64_t pid_word = seraph_aether_lookup(&a, "pid", 10000);
    const uint64_t target = seraph_aether_lookup(&a, "target", 10000);
    CHECK(pid_word != SERAPH_VOID_U64 && target != SERAPH_VOID_U64);
    if (me == 1) {
        uint64_t pid = (uint64_t)getpid(), value = 77;
        CHECK(seraph_aether_write_vbit(&a, pid_word, &pid, 8) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_write_vbit(&a, target, &value, 8) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me != 0) {
        /* Node 1 is stopped and continued by node 0; both wait for the end here. */
        CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
        seraph_aether_destroy(&a);
        return 0;
    }

    uint64_t pid1 = 0;
    CHECK(seraph_aether_read_vbit(&a, pid_word, &pid1, 8) == SERAPH_VBIT_TRUE && pid1 > 1);
    CHECK(seraph_aether_get_node_state(&a, 0) == SERAPH_AETHER_NODE_UP);       /* itself */
    CHECK(wait_until(node1_is, (void*)(intptr_t)SERAPH_AETHER_NODE_UP, 5000)); /* heartbeats reach it */

    CHECK(kill((pid_t)pid1, SIGSTOP) == 0);
    CHECK(wait_until(all_threads_stopped, (void*)(intptr_t)pid1, 5000));
    const double stopped_at = now_ms();
    CHECK(wait_until(node1_is, (void*)(intptr_t)SERAPH_AETHER_NODE_SUSPECTED, 10 * suspect_ms + 5000));
    const double detected_ms = now_ms() - stopped_at;
    printf("node 0: node 1 stopped, nothing asked of it: SUSPECTED after %.0f ms (AETHER_SUSPECT_MS %.0f)\n", detected_ms,
           suspect_ms);
    /* It was last heard at most a heartbeat period (a quarter) before it stopped. */
    CHECK(detected_ms >= suspect_ms * 0.7);
    CHECK(detected_ms <= suspect_ms * 1.25 + 250);

    const uint32_t deadline_ms = seraph_aether_get_timeout_ms(&a);
    seraph_aether_clear_void_context();
    double t0 = now_ms();
    const uint64_t by_pointer = *(volatile uint64_t*)(uintptr_t)target;
    const double pointer_ms = now_ms() - t0;
    CHECK(by_pointer == SERAPH_VOID_U64);
    CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_PARTITION);
    CHECK(pointer_ms < deadline_ms + 500);
    seraph_aether_cache_clear(&a);
    uint64_t v = 0;
    t0 = now_ms();
    Seraph_Aether_Fetch_Result r = seraph_aether_read(&a, target, &v, 8);
    const double api_ms = now_ms() - t0;
    CHECK(r.status != SERAPH_AETHER_OK && r.reason == SERAPH_AETHER_VOID_PARTITION);
    CHECK(api_ms < deadline_ms + 500);
    printf("node 0: its memory reads VOID PARTITION: by pointer in %.0f ms, by API in %.0f ms (deadline %u ms)\n", pointer_ms,
           api_ms, deadline_ms);

    CHECK(kill((pid_t)pid1, SIGCONT) == 0);
    const double continued_at = now_ms();
    CHECK(wait_until(node1_is, (void*)(intptr_t)SERAPH_AETHER_NODE_UP, 10 * suspect_ms + 5000));
    const double back_ms = now_ms() - continued_at;
    CHECK(back_ms <= 2 * suspect_ms + 500);
    CHECK(seraph_aether_read_vbit(&a, target, &v, 8) == SERAPH_VBIT_TRUE && v == 77);
    CHECK(*(volatile uint64_t*)(uintptr_t)target == 77);
    printf("node 0: node 1 continued: UP again after %.0f ms, its memory reads normally\n", back_ms);

    CHECK(seraph_aether_barrier(&a, 120000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
