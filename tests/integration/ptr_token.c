/* Two nodes pass a token in lock step through plain pointers, spinning without yields, as DSM
 * programs synchronize: node 0 waits until x == i-1, writes data = i, then y = i; node 1 waits
 * until y == i, reads data (it must be i: written before y) and writes x = i. The words live on
 * node 2. Layout (argv[1]): "pages" puts x, y and data each in a page of its own, "one" puts all
 * three in one page. Every load must be a real value (never VOID: every node is alive), and
 * every round must finish (aether-run's timeout ends a hang). Prints the median and p99 of a
 * round. Rounds: argv[2] (default 3000). */
#include "cluster_check.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* A store that cannot be served raises SIGBUS: say why before the process ends. */
static void on_sigbus(int sig, siginfo_t* si, void* ctx) {
    (void)ctx;
    char msg[160];
    int n = snprintf(msg, sizeof msg, "node %d: a store to %p raised SIGBUS with every node alive (reason %s)\n", check_node_id,
                     si->si_addr, seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
    if (n > 0) (void)!write(2, msg, (size_t)n);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

/* Spins until *word == want. A load may not yield VOID here: every node is alive. */
static void spin_until(volatile uint64_t* word, uint64_t want, long round) {
    for (;;) {
        uint64_t v = *word;
        if (v == want) return;
        if (v == SERAPH_VOID_U64) {
            fprintf(stderr, "node %d: round %ld: a load of %p yielded VOID (reason %s) with every node alive\n", check_node_id,
                    round, (void*)word, seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
            exit(1);
        }
        if (v > want) {
            fprintf(stderr, "node %d: round %ld: read %llu at %p, expected at most %llu\n", check_node_id, round,
                    (unsigned long long)v, (void*)word, (unsigned long long)want);
            exit(1);
        }
    }
}

int main(int argc, char** argv) {
    const int one_page = argc > 1 && strcmp(argv[1], "one") == 0;
    const long rounds = argc > 2 ? atol(argv[2]) : 3000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    CHECK(a.node_count == 3);
    const uint64_t base = share_block(&a, 2, 3 * 4096, "token");
    const uint64_t stride = one_page ? 8 : 4096;
    volatile uint64_t* x = (volatile uint64_t*)base;
    volatile uint64_t* y = (volatile uint64_t*)(base + stride);
    volatile uint64_t* data = (volatile uint64_t*)(base + 2 * stride);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    double* took = calloc((size_t)rounds, sizeof *took);
    CHECK(took != NULL);
    double last = now_ms();
    for (long i = 1; i <= rounds && me < 2; ++i) {
        if (me == 0) {
            spin_until(x, (uint64_t)(i - 1), i);
            *data = (uint64_t)i;
            *y = (uint64_t)i;
        } else {
            spin_until(y, (uint64_t)i, i);
            uint64_t d = *data;
            if (d != (uint64_t)i) {
                fprintf(stderr, "node 1: round %ld: data is %llu after y = %ld (stale or VOID: %s)\n", i, (unsigned long long)d,
                        i, seraph_aether_void_reason_name(seraph_aether_get_void_reason()));
                exit(1);
            }
            *x = (uint64_t)i;
        }
        double t = now_ms();
        took[i - 1] = t - last;
        last = t;
    }
    if (me < 2) {
        qsort(took, (size_t)rounds, sizeof *took, cmp_double);
        printf("node %u: %ld rounds, words in %s: round median %.1f us, p99 %.1f us\n", me, rounds,
               one_page ? "one page" : "separate pages", took[rounds / 2] * 1e3, took[rounds * 99 / 100] * 1e3);
    }
    free(took);
    CHECK(seraph_aether_barrier(&a, 600000) == SERAPH_VBIT_TRUE);
    seraph_aether_destroy(&a);
    return 0;
}
