/* System calls on buffers in another process's Aether memory, in the default (handler) mode:
 * read() from a file into remote memory on node 0, write() of it to a pipe on node 2. */
#include "cluster_check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BYTES 20000

static char expected[BYTES];

static void* drain(void* arg) {
    int fd = *(int*)arg;
    static char got[BYTES];
    size_t n = 0;
    while (n < BYTES) {
        ssize_t r = read(fd, got + n, BYTES - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    CHECK(n == BYTES);
    CHECK(memcmp(got, expected, BYTES) == 0);
    return NULL;
}

int main(void) {
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    for (int i = 0; i < BYTES; ++i) expected[i] = (char)('A' + (i * 7) % 26);

    if (me == 0) {
        uint64_t buf = seraph_aether_alloc_on_node(&a, 1, BYTES);
        CHECK(buf != SERAPH_VOID_U64);
        char path[] = "/tmp/aether-syscall-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        CHECK(write(fd, expected, BYTES) == BYTES);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        /* The kernel writes into node 1's pages, which are not present here. */
        size_t n = 0;
        while (n < BYTES) {
            ssize_t r = read(fd, (char*)buf + n, BYTES - n);
            CHECK(r > 0);
            n += (size_t)r;
        }
        close(fd);
        unlink(path);
        CHECK(seraph_aether_publish(&a, "buffer", buf) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 2) {
        uint64_t buf = seraph_aether_lookup(&a, "buffer", 10000);
        CHECK(buf != SERAPH_VOID_U64);
        int p[2];
        CHECK(pipe(p) == 0);
        pthread_t reader;
        CHECK(pthread_create(&reader, NULL, drain, &p[0]) == 0);
        /* The kernel reads from node 1's pages, which are not present here. */
        CHECK(write(p[1], (const char*)buf, BYTES) == BYTES);
        pthread_join(reader, NULL);
        close(p[0]);
        close(p[1]);
        printf("node 2: write() from node 1's memory delivered the %d bytes node 0 read() into it\n", BYTES);
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
