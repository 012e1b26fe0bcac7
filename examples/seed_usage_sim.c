/* The seed document's usage example as written there: one process, three nodes, two of them
 * in-process simulated nodes (real node servers reached over loopback TCP). */
#include <seraph/aether.h>

#include <stdio.h>
#include <string.h>

typedef struct {
    uint64_t counter;
    char name[64];
} SharedData;

int main(void) {
    /* Initialize Aether cluster with 3 nodes */
    Seraph_Aether aether;
    seraph_aether_init(&aether, 0, 3); /* We are node 0 */

    /* Add simulated nodes (for userspace testing) */
    seraph_aether_add_sim_node(&aether, 0, 1024 * 1024); /* 1MB */
    seraph_aether_add_sim_node(&aether, 1, 1024 * 1024);
    seraph_aether_add_sim_node(&aether, 2, 1024 * 1024);

    /* Allocate data structure on node 1 */
    uint64_t remote_addr = seraph_aether_alloc_on_node(&aether, 1, sizeof(SharedData));

    /* Write to remote node */
    SharedData data = {.counter = 0};
    strcpy(data.name, "shared counter");
    seraph_aether_write(&aether, remote_addr, &data, sizeof(data));

    /* Read from remote node (transparently fetches and caches) */
    SharedData read_data;
    Seraph_Vbit result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof(read_data));
    if (seraph_vbit_is_void(result)) {
        printf("Remote access failed: %d\n", seraph_aether_get_void_reason());
    } else {
        printf("Counter: %llu, Name: %s\n", (unsigned long long)read_data.counter, read_data.name);
    }

    /* Simulate node failure */
    seraph_aether_set_node_online(&aether, 1, false);
    seraph_aether_cache_clear(&aether); /* the copy above would still be readable: ask node 1 */

    /* Now reads will return VOID */
    result = seraph_aether_read_vbit(&aether, remote_addr, &read_data, sizeof(read_data));
    printf("after node 1 went offline: %s, reason %s\n", seraph_vbit_is_void(result) ? "VOID" : "not VOID",
           seraph_aether_void_reason_name(seraph_aether_get_void_reason()));

    seraph_aether_destroy(&aether);
    return seraph_vbit_is_void(result) ? 0 : 1;
}
