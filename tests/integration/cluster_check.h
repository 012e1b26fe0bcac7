/* Assertions for node programs started by aether-run: a failure names the node and the line and
 * ends the process with status 1, which aether-run reports. Public C API only. */
#ifndef AETHER_CLUSTER_CHECK_H
#define AETHER_CLUSTER_CHECK_H

#include <seraph/aether.h>

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int check_node_id = -1;

#define CHECK(cond)                                                                                                              \
    do {                                                                                                                         \
        if (!(cond)) {                                                                                                           \
            fprintf(stderr, "node %d: CHECK failed at %s:%d: %s (void reason %s)\n", check_node_id, __FILE__, __LINE__, #cond,   \
                    seraph_aether_void_reason_name(seraph_aether_get_void_reason()));                                            \
            exit(1);                                                                                                             \
        }                                                                                                                        \
    } while (0)

static inline double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Polls cond(arg) until it holds or timeout_ms have passed, a few milliseconds apart: for tests
 * that wait for something to happen instead of sleeping a fixed time. Returns whether it held. */
static inline int wait_until(int (*cond)(void*), void* arg, double timeout_ms) {
    const double until = now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg)) return 1;
        if (now_ms() >= until) return 0;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Whether every thread of process `pid` is stopped (SIGSTOP is delivered asynchronously: a
 * thread of node 1 may still be answering a request when kill() returns). */
static inline int all_threads_stopped(void* arg) {
    const long pid = (long)(intptr_t)arg;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR* d = opendir(path);
    if (d == NULL) return 0;
    int stopped = 1;
    struct dirent* e;
    while ((e = readdir(d)) != NULL && stopped) {
        if (e->d_name[0] == '.') continue;
        char stat_path[300], buf[256];
        snprintf(stat_path, sizeof stat_path, "/proc/%ld/task/%s/stat", pid, e->d_name);
        FILE* f = fopen(stat_path, "r");
        if (f == NULL) continue;
        const char* close_paren = NULL;
        if (fgets(buf, sizeof buf, f) != NULL) close_paren = strrchr(buf, ')');
        fclose(f);
        if (close_paren == NULL || close_paren[1] == 0 || close_paren[2] != 'T') stopped = 0;
    }
    closedir(d);
    return stopped;
}

/* A plain access that may raise SIGBUS (a store to memory that cannot be reached, under the sigbus
 * VOID policy): `if (sigsetjmp(bus_jump, 1) == 0) { access; } else { it raised SIGBUS at bus_addr }`,
 * after catch_sigbus(). */
static sigjmp_buf bus_jump;
static volatile uint64_t bus_addr;

static inline void on_bus(int sig, siginfo_t* si, void* ctx) {
    (void)sig;
    (void)ctx;
    bus_addr = (uint64_t)(uintptr_t)si->si_addr;
    siglongjmp(bus_jump, 1);
}

static inline void catch_sigbus(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
}

/* A 64-bit word read through the API: its value, or SERAPH_VOID_U64 when the read is VOID. The
 * read's result goes to `r` unless that is NULL. */
static inline uint64_t api_read(Seraph_Aether* a, uint64_t addr, Seraph_Aether_Fetch_Result* r) {
    uint64_t v = 0;
    const Seraph_Aether_Fetch_Result got = seraph_aether_read(a, addr, &v, sizeof v);
    if (r != NULL) *r = got;
    return got.status == SERAPH_AETHER_OK ? v : SERAPH_VOID_U64;
}

/* Joins the cluster from the environment aether-run provides, and waits for every node. */
static inline void join_cluster(Seraph_Aether* a) {
    CHECK(seraph_aether_init_from_env(a) == SERAPH_VBIT_TRUE);
    check_node_id = a->local_node_id;
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
}

/* A block of `bytes` on node `home`, allocated there and published as `name`; every node returns
 * its address (fresh memory: it reads zeros). */
static inline uint64_t share_block(Seraph_Aether* a, uint16_t home, size_t bytes, const char* name) {
    if (a->local_node_id == home) {
        uint64_t p = seraph_aether_alloc_on_node(a, home, bytes);
        CHECK(p != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(a, name, p) == SERAPH_VBIT_TRUE);
    }
    uint64_t p = seraph_aether_lookup(a, name, 10000);
    CHECK(p != SERAPH_VOID_U64);
    return p;
}

#endif
