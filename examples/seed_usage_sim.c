/* The seed document's usage example as written there: one process, three nodes, two of them
 * in-process simulated nodes (real node servers reached over loopback TCP). Exits 0 only if every
 * step before the failure worked (the first read returned the data written) and the read after
 * node 1 went offline is VOID. */
#include <seraph/aether.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    uint64_t counter;
    char name[64];
} SharedData;

/* Says on stderr which step failed; stdout stays the example's own output. */
static bool step(bool ok, const char* what) {
    if (!ok) fprintf(stderr, "seed_usage_sim: %s failed\n", what);
    return ok;
}

int main(void) {
    /* Initialize Aether cluster with 3 nodes */
    Seraph_Aether aether;
    if (!step(seraph_vbit_is_true(seraph_aether_init(&aether, 0, 3)), "init")) return 1; /* We are node 0 */
    bool ok = true; /* every step before the failure worked */

    /* Add simulated nodes (for userspace testing) */
    ok &= step(seraph_vbit_is_true(seraph_aether_add_sim_node(&aether, 0, 1024 * 1024)), "add_sim_node 0"); /* 1MB */
    ok &= step(seraph_vbit_is_true(seraph_aether_add_sim_node(&aether, 1, 1024 * 1024)), "add_sim_node 1");
    ok &= step(seraph_vbit_is_true(seraph_aether_add_sim_node(&aether, 2, 1024 * 1024)), "add_sim_node 2");

    /* Allocate data structure on node 1 */
    uint64_t remote_addr = seraph_aether_alloc_on_node(&aether, 1, sizeof(SharedData));
    ok &= step(remote_addr != SERAPH_VOID_U64 && seraph_aether_get_node(remote_addr) == 1, "alloc on node 1");

    /* Write to remote node */
    SharedData data = {.counter = 0};
    strcpy(data.name, "shared counter");
    ok &= step(seraph_aether_write(&aether, remote_addr, &data, sizeof(data)).status == SERAPH_AETHER_OK, "write");

    /* Read from remote node (transparently fetches and caches) */
    SharedData read_data;
    Seraph_Vbit result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof(read_data));
    if (seraph_vbit_is_void(result)) {
        printf("Remote access failed: %d\n", seraph_aether_get_void_reason());
        ok = step(false, "first read");
    } else {
        printf("Counter: %llu, Name: %s\n", (unsigned long long)read_data.counter, read_data.name);
        ok &= step(memcmp(&read_data, &data, sizeof(data)) == 0, "first read (data differs from what was written)");
    }

    /* Simulate node failure */
    seraph_aether_set_node_online(&aether, 1, false);

    /* Now reads will return VOID */
    result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof(read_data));
    printf("after node 1 went offline: %s, reason %s\n", seraph_vbit_is_void(result) ? "VOID" : "not VOID",
           seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
    ok &= step(seraph_vbit_is_void(result), "read after node 1 went offline (not VOID)");

    seraph_aether_destroy(&aether);
    return ok ? 0 : 1;
}
