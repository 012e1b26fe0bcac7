/* aetherctl against a live 3-node cluster, through the nodes' admin sockets (docs/admin.md).
 * Node 1 homes two pages: node 2 writes the first (it holds it exclusive), node 0 reads the second
 * (it holds it shared). Node 0 then runs aetherctl (argv[1]) and checks what each command shows:
 *   - nodes: all three up;
 *   - directory of node 1: the first page exclusive at node 2, the second shared with node 0;
 *   - cache of node 2, filtered to exclusive copies: the first page, home node 1;
 *   - stats of node 0: its read fault counted, and the bytes it received from node 1 (the page);
 *   - nodes as node 1 sees them: the bytes it sent node 0;
 *   - page: the first page across the cluster, node 2's copy exclusive;
 *   - a request of junk bytes to node 1's socket: an error answer, and node 1 still answers;
 *   - the same over the cluster port (--peer, node 1's address, with the cluster secret the nodes
 *     have): stats, directory, nodes, and page (which reaches nodes 0 and 2 at the addresses node
 *     1 lists); with another secret: refused, saying the key is wrong.
 * Then node 2 stops itself (SIGSTOP) while it holds the first page exclusive: asking it fails
 * within the client's timeout, naming it; nodes still answers and shows it suspected; two reads
 * of the first page by node 0 fail (its home cannot recall it from a stopped owner), and the
 * directory shows the second one queued behind the recall. Node 0 continues node 2: the queue
 * drains, and the page reads node 2's write.
 * Then node 2 is killed (SIGKILL): nodes shows it down, and asking it fails with a message that
 * names it, exit status 1. AETHER_ADMIN_DIR must be set (the nodes' and aetherctl's directory). */
#include "cluster_check.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static const char* ctl;
static const char* dir;
static int node2_pid;

/* Runs `aetherctl ARGS --dir DIR` and returns its standard output (and, with `err`, its standard
 * error in `err`); `status` gets its exit status. */
static char* run_ctl(const char* args, int* status, int with_stderr) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s --dir %s%s", ctl, args, dir, with_stderr ? " 2>&1" : "");
    FILE* p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t cap = 1 << 16, len = 0;
    char* out = malloc(cap);
    CHECK(out != NULL);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            CHECK(out != NULL);
        }
    }
    out[len] = '\0';
    const int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static int count_of(const char* text, const char* needle) {
    int n = 0;
    for (const char* at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle)) ++n;
    return n;
}

/* The string after `"key": "` in JSON text (up to the closing quote), copied to `out`. */
static const char* json_string(const char* text, const char* key, char* out, size_t cap) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
    out[0] = '\0';
    const char* at = strstr(text, pattern);
    if (at == NULL) return out;
    at += strlen(pattern);
    size_t len = strcspn(at, "\"");
    if (len >= cap) len = cap - 1;
    memcpy(out, at, len);
    out[len] = '\0';
    return out;
}

/* The number after `"key": ` in JSON text, or -1. */
static long long json_number(const char* text, const char* key) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char* at = strstr(text, pattern);
    return at == NULL ? -1 : atoll(at + strlen(pattern));
}

/* The JSON object in `text` that holds `needle` (from the needle to the object's end), copied to
 * `out`; empty when there is none. */
static const char* object_with(const char* text, const char* needle, char* out, size_t cap) {
    out[0] = '\0';
    const char* at = strstr(text, needle);
    if (at == NULL) return out;
    const char* end = strchr(at, '}');
    size_t len = end == NULL ? strlen(at) : (size_t)(end - at);
    if (len >= cap) len = cap - 1;
    memcpy(out, at, len);
    out[len] = '\0';
    return out;
}

/* Whether process `pid` is stopped (state T in /proc/PID/stat). */
static int stopped(void* pid) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", *(int*)pid);
    FILE* f = fopen(path, "r");
    if (f == NULL) return 0;
    const int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    const char* after = got ? strrchr(line, ')') : NULL;
    return after != NULL && after[1] == ' ' && after[2] == 'T';
}

/* The number of requests node 1's directory shows queued on the page at `addr`, or -1. */
static long long queued_at(const char* addr) {
    char args[128];
    snprintf(args, sizeof args, "directory --node 1 --addr %s --json", addr);
    int st;
    char* out = run_ctl(args, &st, 0);
    const long long q = st == 0 ? json_number(out, "queued") : -1;
    free(out);
    return q;
}
static const char* first_addr;
static int one_queued(void* unused) { return (void)unused, queued_at(first_addr) >= 1; }
static int none_queued(void* unused) { return (void)unused, queued_at(first_addr) == 0; }

/* Node 0's part of the stopped-node phase (node 2 stops itself; `pid` is its process). */
static void with_node2_stopped(Seraph_Aether* a, uint64_t page, const char* addr, int pid) {
    CHECK(wait_until(stopped, &pid, 20000));
    int st;
    const double t0 = now_ms();
    char* out = run_ctl("stats --node 2", &st, 1);
    const double took = now_ms() - t0;
    CHECK(st == 1 && strstr(out, "node 2") != NULL && strstr(out, "did not answer within") != NULL);
    CHECK(took < 10000);
    printf("node 0: node 2 stopped; asking it (%.0f ms): %s", took, out);
    free(out);
    out = run_ctl("nodes --node 0 --json", &st, 0);
    CHECK(st == 0 && count_of(out, "\"state\": \"up\"") == 2 && count_of(out, "\"state\": \"suspected\"") == 1);
    /* Over its cluster port too: the kernel takes the connection, the stopped node never sends
     * its challenge, and aetherctl gives up within its timeout, naming the address. */
    char entry[512], peer[128], args[256];
    object_with(out, "\"node\": 2,", entry, sizeof entry);
    json_string(entry, "address", peer, sizeof peer);
    free(out);
    snprintf(args, sizeof args, "stats --peer %s", peer);
    const double t2 = now_ms();
    out = run_ctl(args, &st, 1);
    const double took_peer = now_ms() - t2;
    CHECK(st == 1 && strstr(out, peer) != NULL);
    CHECK(took_peer < 10000);
    printf("node 0: node 2 stopped; asking it over its cluster port %s (%.0f ms): %s", peer, took_peer, out);
    free(out);

    uint64_t v = 0;
    CHECK(seraph_aether_read_vbit(a, page, &v, sizeof v) == SERAPH_VBIT_VOID); /* starts the recall */
    CHECK(seraph_aether_read_vbit(a, page, &v, sizeof v) == SERAPH_VBIT_VOID); /* queues behind it */
    first_addr = addr;
    CHECK(wait_until(one_queued, NULL, 10000));
    printf("node 0: the directory shows a request queued behind the recall from the stopped owner\n");
    CHECK(kill(pid, SIGCONT) == 0);
    CHECK(wait_until(none_queued, NULL, 20000));
    v = 0;
    const double t1 = now_ms();
    while (seraph_aether_read_vbit(a, page, &v, sizeof v) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t1 < 20000);
    CHECK(v == 7); /* the stopped owner's write, taken home by the recall it answered late */
    printf("node 0: node 2 continued; the queue drained and the page reads its write\n");
}

/* Node 0's part of the remote phase: aetherctl --peer at node 1's cluster address. */
static void over_the_cluster_port(const char* addr) {
    int st;
    char* out = run_ctl("nodes --node 0 --json", &st, 0);
    CHECK(st == 0);
    char entry[512], peer[128];
    object_with(out, "\"node\": 1,", entry, sizeof entry);
    json_string(entry, "address", peer, sizeof peer);
    free(out);
    CHECK(strchr(peer, ':') != NULL);
    /* --dir goes with every run_ctl; --peer wins over it (the sockets are not used: see below). */
    char args[512];
    snprintf(args, sizeof args, "stats --peer %s --json", peer);
    out = run_ctl(args, &st, 0);
    CHECK(st == 0 && json_number(out, "node") == 1 && json_number(out, "pages_homed") == 2);
    free(out);
    snprintf(args, sizeof args, "directory --peer %s --json", peer);
    out = run_ctl(args, &st, 0);
    object_with(out, addr, entry, sizeof entry);
    CHECK(st == 0 && strstr(entry, "\"state\": \"exclusive\"") != NULL && strstr(entry, "\"owner\": 2") != NULL);
    free(out);
    snprintf(args, sizeof args, "nodes --peer %s --json", peer);
    out = run_ctl(args, &st, 0);
    CHECK(st == 0 && count_of(out, "\"state\": \"up\"") == 3 && count_of(out, "\"uptime_ms\": ") == 3);
    free(out);
    snprintf(args, sizeof args, "page %s --peer %s --json", addr, peer);
    out = run_ctl(args, &st, 0);
    CHECK(st == 0 && count_of(out, "\"copy\": ") == 3 && strstr(out, "\"copy\": \"exclusive\"") != NULL);
    free(out);
    /* Another cluster's key: the node does not prove it, and aetherctl says so. */
    snprintf(args, sizeof args, "stats --peer %s", peer);
    const char* secret = getenv("AETHER_SECRET");
    CHECK(secret != NULL);
    char* saved = strdup(secret);
    CHECK(setenv("AETHER_SECRET", "not the cluster's secret", 1) == 0);
    out = run_ctl(args, &st, 1);
    CHECK(setenv("AETHER_SECRET", saved, 1) == 0);
    free(saved);
    CHECK(st == 1 && strstr(out, "key is wrong") != NULL);
    printf("node 0: over the cluster port (%s): stats, directory, nodes and page answered; another key: %s", peer, out);
    free(out);
}

static int node2_down(void* a) { return seraph_aether_get_node_state((Seraph_Aether*)a, 2) == SERAPH_AETHER_NODE_DOWN; }

/* Junk to node 1's socket, without a line end: answered with an error, not kept. */
static void send_junk(void) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/node-1.sock", dir);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(s >= 0);
    CHECK(connect(s, (struct sockaddr*)&sa, sizeof sa) == 0);
    char junk[1000];
    for (size_t i = 0; i < sizeof junk; ++i) junk[i] = (char)(i * 37 + 1) == '\n' ? 'x' : (char)(i * 37 + 1);
    (void)!write(s, junk, sizeof junk);
    char answer[256] = {0};
    ssize_t got = read(s, answer, sizeof answer - 1);
    CHECK(got > 6 && strncmp(answer, "error ", 6) == 0);
    close(s);
}

int main(int argc, char** argv) {
    CHECK(argc == 2);
    ctl = argv[1];
    dir = getenv("AETHER_ADMIN_DIR");
    CHECK(dir != NULL);
    Seraph_Aether a;
    join_cluster(&a);
    const uint16_t me = a.local_node_id;
    const uint64_t pages = share_block(&a, 1, 2 * 4096, "pages");
    if (me == 2) *(volatile uint64_t*)(uintptr_t)pages = 7;
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);
    if (me == 0) CHECK(*(volatile uint64_t*)(uintptr_t)(pages + 4096) == 0);
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 0) {
        char args[256], addr[32];
        snprintf(addr, sizeof addr, "0x%llx", (unsigned long long)pages);
        int st;
        char* out = run_ctl("nodes --json", &st, 0);
        CHECK(st == 0 && count_of(out, "\"state\": \"up\"") == 3);
        CHECK(count_of(out, "\"faults_per_s\": ") == 3); /* each node's own, from its socket */
        free(out);

        snprintf(args, sizeof args, "directory --node 1 --json");
        out = run_ctl(args, &st, 0);
        CHECK(st == 0);
        char entry[512];
        object_with(out, addr, entry, sizeof entry);
        CHECK(strstr(entry, "\"state\": \"exclusive\"") != NULL && strstr(entry, "\"owner\": 2") != NULL);
        char second[32];
        snprintf(second, sizeof second, "0x%llx", (unsigned long long)(pages + 4096));
        object_with(out, second, entry, sizeof entry);
        CHECK(strstr(entry, "\"state\": \"shared\"") != NULL);
        const char* sharers = strstr(entry, "\"sharers\": [");
        CHECK(sharers != NULL);
        sharers += strlen("\"sharers\": [");
        sharers += strspn(sharers, " \n");
        CHECK(sharers[0] == '0'); /* node 0, alone */
        sharers += 1 + strspn(sharers + 1, " \n");
        CHECK(sharers[0] == ']');
        free(out);

        /* The same as a table, as people read it. */
        out = run_ctl("cache --node 2", &st, 0);
        CHECK(st == 0 && strstr(out, "ADDR") != NULL && strstr(out, "STATE") != NULL && strstr(out, "exclusive") != NULL);
        free(out);

        out = run_ctl("cache --node 2 --state exclusive --json", &st, 0);
        CHECK(st == 0 && strstr(out, addr) != NULL && strstr(out, "\"home\": 1") != NULL);
        CHECK(json_number(out, "count") >= 1);
        free(out);

        out = run_ctl("stats --node 0 --json", &st, 0);
        CHECK(st == 0 && json_number(out, "read_faults") >= 1 && json_number(out, "node") == 0);
        /* The page node 0 read came from node 1: its bytes, and a header, are counted per peer. */
        CHECK(json_number(out, "bytes_received_from_node_1") >= 4096 + 64);
        free(out);
        out = run_ctl("nodes --node 1 --json", &st, 0);
        object_with(out, "\"node\": 0,", entry, sizeof entry);
        CHECK(st == 0 && json_number(entry, "bytes_sent") >= 4096 + 64);
        free(out);

        snprintf(args, sizeof args, "page %s --json", addr);
        out = run_ctl(args, &st, 0);
        CHECK(st == 0 && count_of(out, "\"copy\": ") == 3 && strstr(out, "\"copy\": \"exclusive\"") != NULL);
        free(out);

        send_junk();
        out = run_ctl("stats --node 1 --json", &st, 0);
        CHECK(st == 0 && json_number(out, "node") == 1);
        free(out);
        out = run_ctl("stats --node 2 --json", &st, 0);
        CHECK(st == 0 && json_number(out, "pid") > 1);
        node2_pid = (int)json_number(out, "pid");
        free(out);
        over_the_cluster_port(addr);
        printf("node 0: nodes, directory, cache, stats and page answered as the cluster stands; junk refused\n");
    }
    CHECK(seraph_aether_barrier(&a, 20000) == SERAPH_VBIT_TRUE);

    if (me == 2) raise(SIGSTOP);
    if (me == 0) {
        char addr[32];
        snprintf(addr, sizeof addr, "0x%llx", (unsigned long long)pages);
        with_node2_stopped(&a, pages, addr, node2_pid);
    }
    CHECK(seraph_aether_barrier(&a, 60000) == SERAPH_VBIT_TRUE);

    if (me == 2) raise(SIGKILL);
    if (me == 0) {
        CHECK(wait_until(node2_down, &a, 20000));
        int st;
        char* out = run_ctl("nodes --node 0 --json", &st, 0);
        CHECK(st == 0 && count_of(out, "\"state\": \"up\"") == 2 && count_of(out, "\"state\": \"down\"") == 1);
        free(out);
        out = run_ctl("stats --node 2", &st, 1);
        CHECK(st == 1 && strstr(out, "node 2") != NULL);
        printf("node 0: node 2 shown down; asking it: %s", out);
        free(out);
    }
    /* The first barrier without node 2 fails (NODE_CRASHED) and drops it; the next goes through. */
    const double t0 = now_ms();
    while (seraph_aether_barrier(&a, 5000) != SERAPH_VBIT_TRUE) CHECK(now_ms() - t0 < 30000);
    seraph_aether_destroy(&a);
    return 0;
}
