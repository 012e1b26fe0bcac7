/* An ordinary C program, preloaded with AETHER_HEAP=1 on one node: builds data on the heap, forks
 * a child that does not exec, and checks fork semantics. The child sees a private copy of the
 * parent's heap as it was at the fork (including pages the parent's window no longer held, whose
 * bytes the home store kept), keeps using it (reads, malloc, calloc, realloc and free of blocks it
 * inherited and of new ones, small and large), forks a grandchild of its own, and exits normally;
 * neither side sees the other's later stores. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures = 0;
#define EXPECT(c)                                                                                                                \
    do {                                                                                                                         \
        if (!(c)) {                                                                                                              \
            fprintf(stderr, "fork_child_heap (pid %d): line %d: %s\n", (int)getpid(), __LINE__, #c);                             \
            ++failures;                                                                                                          \
        }                                                                                                                        \
    } while (0)

#define NODES 20000
#define STRINGS 2000

struct item {
    uint64_t value;
    char label[40];
    struct item* next;
};

struct heap_data {
    struct item* list;
    char* strings[STRINGS];
    unsigned char* large[3]; /* spans of their own */
    size_t large_size[3];
    unsigned char* dropped; /* its pages dropped from the window: the home store has them */
    size_t dropped_size;
    uint64_t* zeros; /* calloc */
};

static unsigned char pattern(size_t i, int salt) { return (unsigned char)((i * 131 + (size_t)salt * 7) >> 3); }

static void build(struct heap_data* d) {
    d->list = NULL;
    for (int i = NODES - 1; i >= 0; --i) {
        struct item* it = malloc(sizeof *it);
        it->value = (uint64_t)i * 3 + 1;
        snprintf(it->label, sizeof it->label, "item %d", i);
        it->next = d->list;
        d->list = it;
    }
    for (int i = 0; i < STRINGS; ++i) {
        char buf[200];
        int n = snprintf(buf, sizeof buf, "string %d ", i);
        for (int k = 0; k < i % 150; ++k) buf[n++] = (char)('a' + k % 26);
        buf[n] = '\0';
        d->strings[i] = strdup(buf);
    }
    const size_t sizes[3] = {100 * 1024, 2 << 20, 10 << 20};
    for (int b = 0; b < 3; ++b) {
        d->large_size[b] = sizes[b];
        d->large[b] = malloc(sizes[b]);
        for (size_t i = 0; i < sizes[b]; ++i) d->large[b][i] = pattern(i, b);
    }
    d->dropped_size = 256 * 1024;
    d->dropped = malloc(d->dropped_size);
    for (size_t i = 0; i < d->dropped_size; ++i) d->dropped[i] = pattern(i, 9);
    /* "This node does not need its copy": the preload library sends the bytes home and drops the
     * copy from the window; the next access fetches it again (it does not read zeros). */
    uintptr_t first = ((uintptr_t)d->dropped + 4095) & ~(uintptr_t)4095;
    uintptr_t last = ((uintptr_t)d->dropped + d->dropped_size) & ~(uintptr_t)4095;
    EXPECT(madvise((void*)first, last - first, MADV_DONTNEED) == 0);
    d->zeros = calloc(50000, sizeof *d->zeros);
}

/* Returns how many checks failed; `list_head_value`: what the first item's value must be.
 * `dropped`: also the block whose pages were dropped (reading it fetches them back). */
static int verify(const struct heap_data* d, uint64_t list_head_value, int dropped) {
    int bad = 0;
    uint64_t sum = 0, expected = 0;
    int n = 0;
    for (const struct item* it = d->list; it != NULL; it = it->next, ++n) {
        sum += it->value;
        char want[40];
        snprintf(want, sizeof want, "item %d", n);
        if (strcmp(want, it->label) != 0) ++bad;
    }
    for (int i = 0; i < NODES; ++i) expected += (uint64_t)i * 3 + 1;
    expected += list_head_value - 1;
    if (n != NODES || sum != expected) {
        fprintf(stderr, "pid %d: list: %d items, sum %llu, expected %llu\n", (int)getpid(), n, (unsigned long long)sum,
                (unsigned long long)expected);
        ++bad;
    }
    for (int i = 0; i < STRINGS; ++i) {
        char want[40];
        snprintf(want, sizeof want, "string %d ", i);
        if (strncmp(d->strings[i], want, strlen(want)) != 0 || strlen(d->strings[i]) != strlen(want) + (size_t)(i % 150)) ++bad;
    }
    for (int b = 0; b < 3; ++b)
        for (size_t i = 0; i < d->large_size[b]; ++i)
            if (d->large[b][i] != pattern(i, b)) {
                fprintf(stderr, "pid %d: large block %d differs at %zu\n", (int)getpid(), b, i);
                ++bad;
                break;
            }
    for (size_t i = 0; dropped && i < d->dropped_size; ++i)
        if (d->dropped[i] != pattern(i, 9)) {
            fprintf(stderr, "pid %d: dropped block differs at %zu: %d\n", (int)getpid(), i, d->dropped[i]);
            ++bad;
            break;
        }
    for (int i = 0; i < 50000; ++i)
        if (d->zeros[i] != 0) {
            ++bad;
            break;
        }
    return bad;
}

/* The child's own use of its heap: new blocks, and realloc/free of inherited ones. */
static void use_heap_in_child(struct heap_data* d) {
    /* realloc of inherited blocks keeps their bytes: small ones, and large ones grown and shrunk. */
    struct item* first = realloc(d->list, 1000);
    EXPECT(first != NULL && first->value == 1000 && strcmp(first->label, "item 0") == 0);
    d->list = first;
    char* s = realloc(d->strings[7], 5000);
    EXPECT(s != NULL && strncmp(s, "string 7 abcdefg", 16) == 0);
    d->strings[7] = s;
    unsigned char* grown = realloc(d->large[1], 5 << 20);
    EXPECT(grown != NULL);
    int same = 1;
    for (size_t i = 0; grown != NULL && i < d->large_size[1]; ++i) same &= grown[i] == pattern(i, 1);
    EXPECT(same);
    d->large[1] = grown;
    unsigned char* shrunk = realloc(d->large[2], 64 * 1024);
    EXPECT(shrunk != NULL);
    same = 1;
    for (size_t i = 0; shrunk != NULL && i < 64 * 1024; ++i) same &= shrunk[i] == pattern(i, 2);
    EXPECT(same);
    d->large[2] = shrunk;
    /* free of inherited blocks, small and large. */
    for (int i = 0; i < STRINGS; i += 2) free(d->strings[i]);
    free(d->large[0]);
    free(d->dropped);
    free(d->zeros);
    /* New memory: many small blocks (more than the chunks it inherited) and large ones (more than
     * the heap keeps for reuse), written, checked and freed, twice over. */
    for (int round = 0; round < 2; ++round) {
        enum { SMALL = 60000, LARGE = 40 };
        char** small = malloc(SMALL * sizeof *small);
        for (int i = 0; i < SMALL; ++i) {
            small[i] = malloc(16 + (size_t)(i % 200));
            memset(small[i], i & 0x7F, 16 + (size_t)(i % 200));
        }
        unsigned char** big = calloc(LARGE, sizeof *big);
        for (int i = 0; i < LARGE; ++i) {
            size_t n = (size_t)(1 + i % 5) << 20;
            big[i] = calloc(1, n);
            EXPECT(big[i] != NULL && big[i][n - 1] == 0 && big[i][n / 2] == 0);
            if (big[i] != NULL) memset(big[i], i, n);
        }
        int ok = 1;
        for (int i = 0; i < SMALL; ++i)
            for (int k = 0; k < 16 + i % 200; ++k) ok &= small[i][k] == (char)(i & 0x7F);
        for (int i = 0; i < LARGE; ++i)
            if (big[i] != NULL)
                ok &= big[i][0] == (unsigned char)i && big[i][((size_t)(1 + i % 5) << 20) - 1] == (unsigned char)i;
        EXPECT(ok);
        for (int i = 0; i < SMALL; ++i) free(small[i]);
        for (int i = 0; i < LARGE; ++i) free(big[i]);
        free(small);
        free(big);
    }
    /* The blocks still inherited are intact after all that. */
    EXPECT(strcmp(d->list->next->label, "item 1") == 0);
    EXPECT(strncmp(d->strings[9], "string 9 ", 9) == 0);
}

int main(void) {
    struct heap_data* d = malloc(sizeof *d);
    build(d);
    EXPECT(verify(d, 1, 0) == 0); /* not the dropped block: its pages stay out of the window */

    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) return 2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
        /* The child: the parent's heap as it was at the fork. */
        close(to_child[1]);
        close(to_parent[0]);
        EXPECT(verify(d, 1, 1) == 0);
        char c;
        EXPECT(read(to_child[0], &c, 1) == 1); /* the parent has changed its own copy meanwhile */
        EXPECT(verify(d, 1, 1) == 0);
        d->list->value = 1000; /* and this change stays in the child */
        EXPECT(write(to_parent[1], "c", 1) == 1);
        use_heap_in_child(d);
        /* A grandchild of a process that is not a node: its heap is copied like any memory. */
        pid_t g = fork();
        if (g == 0) {
            char* p = malloc(100);
            strcpy(p, d->list->next->label);
            _exit(strcmp(p, "item 1") == 0 && d->list->value == 1000 ? 0 : 1);
        }
        int gs = 0;
        waitpid(g, &gs, 0);
        EXPECT(WIFEXITED(gs) && WEXITSTATUS(gs) == 0);
        printf("child: the parent's heap as at the fork, used and grown on its own: %s\n", failures ? "FAILED" : "ok");
        exit(failures == 0 ? 0 : 1); /* a normal exit: atexit handlers and stdio run in the child */
    }
    close(to_child[0]); /* a child that dies leaves the parent an end of file, not a wait */
    close(to_parent[1]);
    d->list->value = 77; /* the child must not see this */
    EXPECT(write(to_child[1], "p", 1) == 1);
    char c;
    EXPECT(read(to_parent[0], &c, 1) == 1);
    EXPECT(d->list->value == 77); /* nor the parent the child's change */
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fork_child_heap: the child ended with status %#x%s\n", status, WIFSIGNALED(status) ? " (a signal)" : "");
        ++failures;
    }
    d->list->value = 1;
    EXPECT(verify(d, 1, 1) == 0); /* the parent's heap, written after the fork, still works */
    char* after = malloc(1 << 20);
    memset(after, 1, 1 << 20);
    free(after);
    printf("parent: child saw a private copy of the heap: %s\n", failures ? "FAILED" : "ok");
    return failures == 0 ? 0 : 1;
}
