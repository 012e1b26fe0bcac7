/* A linked list of 10,000 elements built with plain stores in node 1's memory, traversed with
 * plain loads on nodes 0 and 2; then values written through pointers on one node are seen through
 * pointers and through seraph_aether_read on the others after the writer's barrier. */
#include "cluster_check.h"

#define ELEMENTS 10000

typedef struct element {
    uint64_t value;
    struct element* next;
} element;

static uint64_t expected_sum(void) {
    uint64_t s = 0;
    for (uint64_t i = 0; i < ELEMENTS; ++i) s += i * i + 1;
    return s;
}

static uint64_t walk(const element* e, uint64_t* count) {
    uint64_t s = 0;
    *count = 0;
    for (; e != NULL; e = e->next) {
        s += e->value;
        ++*count;
    }
    return s;
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;

    if (me == 1) {
        /* Built with nothing but plain stores into this node's own Aether memory. */
        uint64_t base = seraph_aether_alloc(&a, ELEMENTS * sizeof(element));
        CHECK(base != SERAPH_VOID_U64);
        element* nodes = (element*)base;
        for (uint64_t i = 0; i < ELEMENTS; ++i) {
            nodes[i].value = i * i + 1;
            /* Link in a scattered order so the walk jumps between pages. */
            nodes[i].next = NULL;
        }
        uint64_t stride = 4099; /* coprime with ELEMENTS: visits every element once */
        uint64_t cur = 0;
        for (uint64_t k = 1; k < ELEMENTS; ++k) {
            uint64_t nxt = (cur + stride) % ELEMENTS;
            nodes[cur].next = &nodes[nxt];
            cur = nxt;
        }
        CHECK(seraph_aether_publish(&a, "head", (uint64_t)&nodes[0]) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    const element* head = (const element*)seraph_aether_lookup(&a, "head", 10000);
    CHECK((uint64_t)head != SERAPH_VOID_U64);
    CHECK(seraph_aether_get_node((uint64_t)head) == 1);

    uint64_t count = 0;
    uint64_t sum = walk(head, &count);
    CHECK(count == ELEMENTS);
    CHECK(sum == expected_sum());
    printf("node %u: walked %lu elements of node 1's list by pointer, sum %lu (expected %lu)\n", me, (unsigned long)count,
           (unsigned long)sum, (unsigned long)expected_sum());
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    /* Each node writes through a pointer; after its barrier every node sees it both ways. */
    element* writable = (element*)head;
    for (int round = 0; round < 3; ++round) {
        if (me == (uint16_t)round) writable->value = 1000000u + (uint64_t)round;
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
        CHECK(((volatile element*)head)->value == 1000000u + (uint64_t)round);
        uint64_t via_api = 0;
        CHECK(seraph_aether_read_vbit(&a, (uint64_t)&head->value, &via_api, 8) == SERAPH_VBIT_TRUE);
        CHECK(via_api == 1000000u + (uint64_t)round);
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    }
    /* And the whole list again, now that the first value changed. */
    sum = walk(head, &count);
    CHECK(sum == expected_sum() - 1 + 1000002u);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
