/* A cluster started from one TOML file (AETHER_CONFIG) instead of aether-run's variables. The
 * program is its own launcher: it writes the file and a secret file, starts the nodes as copies of
 * itself with only AETHER_CONFIG and AETHER_NODE_ID set, and reports how they ended.
 *
 *   config_file_cluster mixed       3 nodes on loopback: node 1 listens on 0.0.0.0 but is dialled
 *                                   at 127.0.0.1, node 2 lives at [::1] (IPv6). Every node reads
 *                                   and writes the memory of every other. Exit 77 without IPv6
 *                                   loopback.
 *   config_file_cluster unresolved  node 2's address is a name that does not resolve, and node 2
 *                                   is never started: nodes 0 and 1 still start and work together,
 *                                   and node 2's memory reads VOID UNREACHABLE within the deadline,
 *                                   by API and by pointer, every time it is asked again. */
#include "cluster_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NODES 3
#define TIMEOUT_MS 1000
#define LAUNCH_LIMIT_MS 60000
#define SKIP 77

/* ---- the launcher ---------------------------------------------------------------------------- */

/* A port free on `host` right now (IPv4 or IPv6 literal), or -1. The node binds it a moment later;
 * nothing else on a test machine takes a port from the middle of the ephemeral range that fast. */
static int free_port(const char* host) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int family = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
    if (family == AF_INET6) {
        struct sockaddr_in6* in6 = (struct sockaddr_in6*)&ss;
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) return -1;
        len = sizeof *in6;
    } else {
        struct sockaddr_in* in = (struct sockaddr_in*)&ss;
        in->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) return -1;
        len = sizeof *in;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int port = -1;
    if (bind(fd, (struct sockaddr*)&ss, len) == 0 && getsockname(fd, (struct sockaddr*)&ss, &len) == 0)
        port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6*)&ss)->sin6_port : ((struct sockaddr_in*)&ss)->sin_port);
    close(fd);
    return port;
}

static void write_file(const char* path, const char* text) {
    FILE* f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "launcher: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Starts nodes 0 .. started-1 of the cluster in `config`, waits for them, and returns 0 when every
 * one exited 0. */
static int run_nodes(const char* self, const char* scenario, const char* config, int started) {
    /* The file is the whole description: nothing from an outer launcher may override it. */
    const char* outer[] = {"AETHER_NODE_COUNT", "AETHER_PEERS",  "AETHER_LISTEN_FD",
                           "AETHER_BIND",       "AETHER_SECRET", "AETHER_TIMEOUT_MS"};
    for (size_t i = 0; i < sizeof outer / sizeof outer[0]; ++i) unsetenv(outer[i]);
    setenv("AETHER_CONFIG", config, 1);
    pid_t pids[NODES];
    for (int n = 0; n < started; ++n) {
        char id[8];
        snprintf(id, sizeof id, "%d", n);
        pids[n] = fork();
        if (pids[n] < 0) {
            perror("fork");
            return 1;
        }
        if (pids[n] == 0) {
            setenv("AETHER_NODE_ID", id, 1);
            execl(self, self, scenario, (char*)NULL);
            perror("exec");
            _exit(127);
        }
    }
    int failed = 0, running = started;
    const double until = now_ms() + LAUNCH_LIMIT_MS;
    while (running > 0) {
        int status = 0;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p == 0) {
            if (now_ms() > until) {
                fprintf(stderr, "launcher: nodes still running after %d ms; killing them\n", LAUNCH_LIMIT_MS);
                for (int n = 0; n < started; ++n)
                    if (pids[n] > 0) kill(pids[n], SIGKILL);
                failed = 1;
            }
            struct timespec pause = {0, 10 * 1000 * 1000};
            nanosleep(&pause, NULL);
            continue;
        }
        if (p < 0) break;
        for (int n = 0; n < started; ++n) {
            if (pids[n] != p) continue;
            pids[n] = -1;
            --running;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                printf("launcher: node %d exited 0\n", n);
            } else {
                failed = 1;
                if (WIFEXITED(status))
                    fprintf(stderr, "launcher: node %d exited %d\n", n, WEXITSTATUS(status));
                else
                    fprintf(stderr, "launcher: node %d ended by signal %d\n", n, WTERMSIG(status));
            }
        }
    }
    return failed;
}

static int launch(const char* self, const char* scenario) {
    const int mixed = strcmp(scenario, "mixed") == 0;
    if (mixed && free_port("::1") < 0) {
        printf("SKIP: no IPv6 loopback here (cannot bind [::1]: %s)\n", strerror(errno));
        return SKIP;
    }
    char dir[] = "/tmp/aether-config-cluster-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char secret[128], config[128], text[2048];
    snprintf(secret, sizeof secret, "%s/secret", dir);
    snprintf(config, sizeof config, "%s/cluster.toml", dir);
    write_file(secret, "a secret only this test's nodes know\n");

    const int p0 = free_port("127.0.0.1"), p1 = free_port("0.0.0.0"), p2 = free_port(mixed ? "::1" : "127.0.0.1");
    if (p0 < 0 || p1 < 0 || p2 < 0) {
        fprintf(stderr, "launcher: no free port\n");
        return 1;
    }
    int len = snprintf(text, sizeof text,
                       "# written by config_file_cluster %s\n"
                       "secret_file = \"%s\"\n"
                       "\n"
                       "[settings]\n"
                       "timeout_ms = %d\n"
                       "\n"
                       "[[node]]\n"
                       "address = \"127.0.0.1:%d\"\n"
                       "\n"
                       "[[node]]\n"
                       "address = \"127.0.0.1:%d\" # what the others dial\n"
                       "bind = \"0.0.0.0:%d\"      # what this node listens on\n"
                       "\n"
                       "[[node]]\n",
                       scenario, secret, TIMEOUT_MS, p0, p1, p1);
    /* For node 1's check that it listens on every address (mixed_node). */
    char port[16];
    snprintf(port, sizeof port, "%d", p1);
    setenv("CONFIG_TEST_BIND_PORT", port, 1);
    if (mixed)
        snprintf(text + len, sizeof text - (size_t)len, "address = \"[::1]:%d\"\n", p2);
    else
        snprintf(text + len, sizeof text - (size_t)len, "address = \"node2.aether-test.invalid:%d\" # never resolves\n", p2);
    write_file(config, text);
    printf("launcher: %s\n%s", config, text);
    fflush(stdout);

    const int failed = run_nodes(self, scenario, config, mixed ? NODES : 2);
    unlink(secret);
    unlink(config);
    rmdir(dir);
    return failed;
}

/* ---- the nodes ------------------------------------------------------------------------------- */

/* Whether something listens on 127.0.0.2:port: a socket bound to 0.0.0.0 answers there, one bound
 * to 127.0.0.1 (the advertised address) does not. */
static int listening_on_127_0_0_2(int port) {
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    const int ok = connect(fd, (struct sockaddr*)&in, sizeof in) == 0;
    close(fd); /* the node sees a connection that never says hello, and drops it */
    return ok;
}

static void mixed_node(Seraph_Aether* a) {
    join_cluster(a);
    const uint16_t me = a->local_node_id;
    CHECK(a->node_count == NODES);
    if (me == 1) CHECK(listening_on_127_0_0_2(atoi(getenv("CONFIG_TEST_BIND_PORT"))));
    /* A block on every node; each node writes its word into every block, then all read all: every
     * pair of nodes has talked both ways, over IPv4, IPv6 and to the node bound to 0.0.0.0. */
    uint64_t blocks[NODES];
    const char* names[NODES] = {"block0", "block1", "block2"};
    for (uint16_t h = 0; h < NODES; ++h) blocks[h] = share_block(a, h, 4096, names[h]);
    for (uint16_t h = 0; h < NODES; ++h) {
        uint64_t mine = 0xC0F1600 + me;
        CHECK(seraph_aether_write_vbit(a, blocks[h] + 8 * me, &mine, 8) == SERAPH_VBIT_TRUE);
    }
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
    for (uint16_t h = 0; h < NODES; ++h)
        for (uint16_t w = 0; w < NODES; ++w) {
            CHECK(((volatile uint64_t*)blocks[h])[w] == 0xC0F1600u + w); /* by pointer: the fault path */
            uint64_t v = 0;
            CHECK(seraph_aether_read_vbit(a, blocks[h] + 8 * w, &v, 8) == SERAPH_VBIT_TRUE);
            CHECK(v == 0xC0F1600u + w);
        }
    CHECK(seraph_aether_barrier(a, 20000) == SERAPH_VBIT_TRUE);
    printf("node %u: read and wrote the memory of every node\n", me);
}

/* Node 2 does not resolve: its memory is VOID UNREACHABLE, within the deadline, each time. */
static void expect_node2_unreachable(Seraph_Aether* a) {
    const uint64_t there = seraph_aether_make_addr(2, 0);
    for (int attempt = 0; attempt < 2; ++attempt) {
        seraph_aether_clear_void_context();
        double start = now_ms();
        uint64_t v = 0;
        CHECK(seraph_aether_read_vbit(a, there + 4096 * (uint64_t)attempt, &v, 8) == SERAPH_VBIT_VOID);
        CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_UNREACHABLE);
        CHECK(now_ms() - start < TIMEOUT_MS + 500);
        seraph_aether_clear_void_context();
        start = now_ms();
        CHECK(((volatile uint64_t*)(there + 64 * 4096))[attempt * 512] == SERAPH_VOID_U64);
        CHECK(seraph_aether_get_void_reason() == SERAPH_AETHER_VOID_UNREACHABLE);
        CHECK(now_ms() - start < TIMEOUT_MS + 500);
        /* Past the pause between lookups of a name that failed: the next request looks again. */
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

typedef struct {
    Seraph_Aether* a;
    uint64_t flag;
} flag_ref;

static int flag_set(void* arg) {
    const flag_ref* f = arg;
    uint64_t v = 0;
    return seraph_aether_read_vbit(f->a, f->flag, &v, 8) == SERAPH_VBIT_TRUE && v == 1;
}

static void unresolved_node(Seraph_Aether* a) {
    CHECK(seraph_aether_init_from_env(a) == SERAPH_VBIT_TRUE);
    check_node_id = a->local_node_id;
    const uint16_t me = a->local_node_id;
    CHECK(a->node_count == NODES);
    /* Nodes 0 and 1 work together as if node 2 did not matter. */
    if (me == 1) {
        uint64_t done = seraph_aether_alloc(a, 4096);
        CHECK(done != SERAPH_VOID_U64);
        CHECK(seraph_aether_publish(a, "done", done) == SERAPH_VBIT_TRUE);
    }
    const uint64_t done = seraph_aether_lookup(a, "done", 10000);
    CHECK(done != SERAPH_VOID_U64);
    expect_node2_unreachable(a);
    if (me == 0) {
        uint64_t one = 1;
        CHECK(seraph_aether_write_vbit(a, done, &one, 8) == SERAPH_VBIT_TRUE);
    } else {
        flag_ref f = {a, done};
        CHECK(wait_until(flag_set, &f, 20000)); /* node 0 reads this node's memory until then */
    }
    printf("node %u: started and worked beside an unresolvable node 2\n", me);
}

int main(int argc, char** argv) {
    if (argc != 2 || (strcmp(argv[1], "mixed") != 0 && strcmp(argv[1], "unresolved") != 0)) {
        fprintf(stderr, "usage: %s mixed|unresolved\n", argv[0]);
        return 2;
    }
    const char* id = getenv("AETHER_NODE_ID");
    if (id == NULL || getenv("AETHER_CONFIG") == NULL) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            perror("readlink /proc/self/exe");
            return 1;
        }
        self[n] = '\0';
        return launch(self, argv[1]);
    }
    Seraph_Aether a;
    if (strcmp(argv[1], "mixed") == 0)
        mixed_node(&a);
    else
        unresolved_node(&a);
    seraph_aether_destroy(&a);
    return 0;
}
