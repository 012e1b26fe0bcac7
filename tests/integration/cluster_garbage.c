/* Garbage bytes sent to a node's port close that connection only: the node keeps serving. */
#include "cluster_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* host:port of `node` from AETHER_PEERS. */
static struct sockaddr_in peer(uint16_t node) {
    char list[4096];
    snprintf(list, sizeof list, "%s", getenv("AETHER_PEERS"));
    char* save = NULL;
    char* item = strtok_r(list, ",", &save);
    for (uint16_t i = 0; i < node && item; ++i) item = strtok_r(NULL, ",", &save);
    CHECK(item != NULL);
    char* colon = strrchr(item, ':');
    CHECK(colon != NULL);
    *colon = '\0';
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    CHECK(inet_pton(AF_INET, item, &a.sin_addr) == 1);
    return a;
}

/* Sends junk to `node` and checks that it hangs up within two seconds. */
static void spray(uint16_t node, unsigned seed, size_t bytes) {
    struct sockaddr_in a = peer(node);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr*)&a, sizeof a) == 0);
    unsigned char junk[8192];
    size_t sent = 0;
    while (sent < bytes) {
        for (size_t i = 0; i < sizeof junk; ++i) junk[i] = (unsigned char)rand_r(&seed);
        ssize_t n = send(fd, junk, sizeof junk, MSG_NOSIGNAL);
        if (n <= 0) break; /* already closed on us: fine */
        sent += (size_t)n;
    }
    int closed = 0;
    double until = now_ms() + 2000;
    while (now_ms() < until && !closed) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
            char buf[256];
            if (recv(fd, buf, sizeof buf, 0) <= 0) closed = 1;
        }
    }
    CHECK(closed);
    close(fd);
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id, n = a.node_count;

    /* Everyone keeps a connection to node 1 open and working across the attack. */
    uint64_t mine = seraph_aether_alloc_on_node(&a, 1, 4096);
    CHECK(mine != SERAPH_VOID_U64);
    uint64_t v = 100 + me;
    CHECK(seraph_aether_write_vbit(&a, mine, &v, 8) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);

    /* Every node attacks the next one, several times, with different junk. */
    for (unsigned round = 0; round < 5; ++round) spray((uint16_t)((me + 1) % n), 17u * me + round, 4096u << round);
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);

    /* All nodes still serve: old data intact, new allocations and writes work. */
    uint64_t back = 0;
    CHECK(seraph_aether_read_vbit(&a, mine, &back, 8) == SERAPH_VBIT_TRUE);
    CHECK(back == 100u + me);
    for (uint16_t other = 0; other < n; ++other) {
        uint64_t p = seraph_aether_alloc_on_node(&a, other, 64);
        CHECK(p != SERAPH_VOID_U64);
        uint64_t w = 0xFEED0000u + other, r = 0;
        CHECK(seraph_aether_write_vbit(&a, p, &w, 8) == SERAPH_VBIT_TRUE);
        CHECK(seraph_aether_read_vbit(&a, p, &r, 8) == SERAPH_VBIT_TRUE);
        CHECK(r == w);
    }
    CHECK(seraph_aether_barrier(&a, 10000) == SERAPH_VBIT_TRUE);
    printf("node %u: survived garbage on its port and serves on\n", me);
    seraph_aether_destroy(&a);
    return 0;
}
