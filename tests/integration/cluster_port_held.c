/* A node's port is its own from before the node starts: aether-run binds every node's port and
 * hands the listening socket over (AETHER_LISTEN_FD). Each node first plays the other process
 * that used to take a port between aether-run choosing it and the node binding it (a
 * connection's ephemeral port, another cluster's node): that bind must fail. Then the node joins
 * and serves on the socket it was given: every node reads a value from the next node's memory. */
#include "cluster_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The port of entry `id` of AETHER_PEERS ("127.0.0.1:P0,127.0.0.1:P1,..."). */
static int own_port(void) {
    const char* peers = getenv("AETHER_PEERS");
    const char* id_text = getenv("AETHER_NODE_ID");
    CHECK(peers != NULL && id_text != NULL);
    int id = atoi(id_text);
    const char* entry = peers;
    for (int i = 0; i < id; ++i) {
        entry = strchr(entry, ',');
        CHECK(entry != NULL);
        ++entry;
    }
    const char* colon = strchr(entry, ':');
    CHECK(colon != NULL);
    return atoi(colon + 1);
}

/* errno of binding and listening on 127.0.0.1:port as a competing node would; 0 if it worked. */
static int try_to_take(int port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(s >= 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    if (bind(s, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(s, 8) != 0) err = errno;
    close(s);
    return err;
}

int main(void) {
    const int taken = try_to_take(own_port());
    if (taken != EADDRINUSE) {
        fprintf(stderr, "node %s: another process could take this node's port before it started (%s)\n", getenv("AETHER_NODE_ID"),
                taken == 0 ? "bind and listen succeeded" : strerror(taken));
        return 1;
    }

    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id, n = a.node_count;
    char name[32];
    snprintf(name, sizeof name, "value-%u", me);
    uint64_t mine = seraph_aether_alloc_on_node(&a, me, 64);
    CHECK(mine != SERAPH_VOID_U64);
    uint64_t value = 1000u + me;
    CHECK(seraph_aether_write_vbit(&a, mine, &value, sizeof value) == SERAPH_VBIT_TRUE);
    CHECK(seraph_aether_publish(&a, name, mine) == SERAPH_VBIT_TRUE);

    const uint16_t next = (uint16_t)((me + 1) % n);
    snprintf(name, sizeof name, "value-%u", next);
    uint64_t theirs = seraph_aether_lookup(&a, name, 10000);
    CHECK(theirs != SERAPH_VOID_U64);
    uint64_t got = 0;
    CHECK(seraph_aether_read_vbit(&a, theirs, &got, sizeof got) == SERAPH_VBIT_TRUE);
    CHECK(got == 1000u + next);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
