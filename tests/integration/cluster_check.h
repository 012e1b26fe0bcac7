/* Assertions for node programs started by aether-run: a failure names the node and the line and
 * ends the process with status 1, which aether-run reports. Public C API only. */
#ifndef AETHER_CLUSTER_CHECK_H
#define AETHER_CLUSTER_CHECK_H

#include <seraph/aether.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int check_node_id = -1;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "node %d: CHECK failed at %s:%d: %s (void reason %s)\n", check_node_id, \
                    __FILE__, __LINE__, #cond,                                                     \
                    seraph_aether_void_reason_name(seraph_aether_get_void_reason()));             \
            exit(1);                                                                               \
        }                                                                                          \
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

/* Joins the cluster from the environment aether-run provides, and waits for every node. */
static inline void join_cluster(Seraph_Aether* a) {
    CHECK(seraph_aether_init_from_env(a) == SERAPH_VBIT_TRUE);
    check_node_id = a->local_node_id;
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
}

#endif
