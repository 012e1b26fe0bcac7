/* A benchmark, not a test: the latency of a remote read between two hosts, next to the raw TCP
 * floor measured between the same two hosts in the same run. Node 1 homes a page and runs a TCP
 * echo server on its own address (port of its AETHER_PEERS entry + 1000); node 0 times
 *   - tcp_rtt_64B: a 64-byte request and its 64-byte answer over a plain blocking socket, and
 *   - api_read_miss_64B: seraph_aether_read of 64 B of node 1's page, its copy dropped before each
 *     read, so every read is a request to node 1 and its reply,
 * alternating the two in batches so that both see the same machine. Prints median and p99 of each
 * and their ratio. Run on separate hosts with tests/hosts/on_hosts.sh (or on loopback with
 * aether-run): on_hosts.sh AETHER_RUN 2 -- read_latency [OPS]. */
#include "cluster_check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 100

static int cmp_double(const void* x, const void* y) {
    const double a = *(const double*)x, b = *(const double*)y;
    return a < b ? -1 : a > b;
}

/* Node `n`'s host and port from AETHER_PEERS ("host:port,host:port,..."). */
static void peer_of(int n, char* host, size_t host_len, int* port) {
    const char* peers = getenv("AETHER_PEERS");
    CHECK(peers != NULL);
    const char* p = peers;
    for (int i = 0; i < n; ++i) {
        p = strchr(p, ',');
        CHECK(p != NULL);
        ++p;
    }
    while (*p == ' ') ++p;
    const char* colon = strchr(p, ':');
    CHECK(colon != NULL && (size_t)(colon - p) < host_len);
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = 0;
    *port = atoi(colon + 1);
}

static int tcp_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void full(ssize_t (*io)(int, void*, size_t, int), int fd, char* buf, size_t len) {
    for (size_t done = 0; done < len;) {
        ssize_t n = io(fd, buf + done, len - done, 0);
        CHECK(n > 0);
        done += (size_t)n;
    }
}

static ssize_t send_wrap(int fd, void* b, size_t l, int f) { return send(fd, b, l, f); }

int main(int argc, char** argv) {
    const int ops = argc > 1 ? atoi(argv[1]) : 5000;
    Seraph_Aether a;
    join_cluster(&a);
    CHECK(a.node_count == 2);
    const uint16_t me = a.local_node_id;
    char host[64];
    int port = 0;
    peer_of(1, host, sizeof host, &port);
    const int echo_port = port + 1000;

    if (me == 1) {
        uint64_t page = seraph_aether_alloc_on_node(&a, 1, 4096);
        CHECK(page != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(&a, "page", page) == SERAPH_VBIT_TRUE);
        int l = tcp_socket(), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)echo_port)};
        CHECK(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
        CHECK(bind(l, (struct sockaddr*)&sa, sizeof sa) == 0 && listen(l, 1) == 0);
        CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE); /* listening */
        int c = accept(l, NULL, NULL);
        CHECK(c >= 0);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char buf[64];
        for (int i = 0; i < ops; ++i) {
            full(recv, c, buf, sizeof buf);
            full(send_wrap, c, buf, sizeof buf);
        }
        close(c);
        close(l);
        CHECK(seraph_aether_barrier(&a, 600000) == SERAPH_VBIT_TRUE);
        seraph_aether_destroy(&a);
        return 0;
    }

    const uint64_t page = seraph_aether_lookup(&a, "page", 10000);
    CHECK(page != SERAPH_VOID_U64);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    int s = tcp_socket();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)echo_port)};
    CHECK(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
    CHECK(connect(s, (struct sockaddr*)&sa, sizeof sa) == 0);
    double* tcp = calloc((size_t)ops, sizeof(double));
    double* api = calloc((size_t)ops, sizeof(double));
    CHECK(tcp != NULL && api != NULL);
    char buf[64] = {0};
    uint64_t got[8];
    for (int done = 0; done < ops; done += BATCH) {
        const int n = ops - done < BATCH ? ops - done : BATCH;
        for (int i = 0; i < n; ++i) {
            const double t0 = now_ms();
            full(send_wrap, s, buf, sizeof buf);
            full(recv, s, buf, sizeof buf);
            tcp[done + i] = (now_ms() - t0) * 1000.0;
        }
        for (int i = 0; i < n; ++i) {
            seraph_aether_cache_invalidate(&a, page);
            const double t0 = now_ms();
            CHECK(seraph_aether_read_vbit(&a, page, got, sizeof got) == SERAPH_VBIT_TRUE);
            api[done + i] = (now_ms() - t0) * 1000.0;
        }
    }
    close(s);
    qsort(tcp, (size_t)ops, sizeof(double), cmp_double);
    qsort(api, (size_t)ops, sizeof(double), cmp_double);
    const double tcp_med = tcp[ops / 2], api_med = api[ops / 2];
    printf("node 0 -> node 1 at %s, %d ops each, same run:\n", host, ops);
    printf("  tcp_rtt_64B        median %7.1f us  p99 %7.1f us\n", tcp_med, tcp[ops * 99 / 100]);
    printf("  api_read_miss_64B  median %7.1f us  p99 %7.1f us  (%.2f x the TCP floor)\n", api_med, api[ops * 99 / 100],
           api_med / tcp_med);
    CHECK(seraph_aether_barrier(&a, 600000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
