/* An ordinary C program, preloaded with AETHER_HEAP=1 on a one-node cluster: the malloc family
 * comes from Aether memory, calls that would break the window are refused or emulated, and a
 * child started with fork or fork+exec does not join the cluster (a forked one keeps its copy of
 * the heap). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The documented address layout: node 0's memory starts here (README, "address layout"). */
#define WINDOW_BASE 0x110000000000ull
#define WINDOW_SIZE (1ull << 32)

static int failures = 0;
#define EXPECT(c)                                                                                                                \
    do {                                                                                                                         \
        if (!(c)) {                                                                                                              \
            fprintf(stderr, "heap_and_guards: line %d: %s\n", __LINE__, #c);                                                     \
            ++failures;                                                                                                          \
        }                                                                                                                        \
    } while (0)

static int in_window(const void* p) {
    uint64_t a = (uint64_t)p;
    return a >= WINDOW_BASE && a < WINDOW_BASE + WINDOW_SIZE;
}

int main(int argc, char** argv) {
    if (argc == 2 && strcmp(argv[1], "child") == 0) {
        /* Started by fork+exec from a node: an ordinary process again. */
        void* p = malloc(64);
        printf("%d\n", in_window(p));
        free(p);
        return 0;
    }
    /* The malloc family. */
    char* s = malloc(100);
    EXPECT(in_window(s));
    strcpy(s, "in Aether memory");
    EXPECT(malloc_usable_size(s) >= 100);
    s = realloc(s, 10000);
    EXPECT(in_window(s) && strcmp(s, "in Aether memory") == 0);
    uint64_t* zeros = calloc(1000, sizeof *zeros);
    int all_zero = 1;
    for (int i = 0; i < 1000; ++i) all_zero &= zeros[i] == 0;
    EXPECT(in_window(zeros) && all_zero);
    void* aligned = NULL;
    EXPECT(posix_memalign(&aligned, 4096, 5000) == 0 && ((uint64_t)aligned & 4095) == 0 && in_window(aligned));
    void* a64 = aligned_alloc(64, 128);
    EXPECT(((uint64_t)a64 & 63) == 0 && in_window(a64));
    void* m = memalign(256, 10);
    EXPECT(((uint64_t)m & 255) == 0);
    free(m);
    free(a64);
    free(zeros);
    /* Freed blocks are reused. */
    void* x = malloc(48);
    free(x);
    void* y = malloc(48);
    EXPECT(x == y);
    free(y);

    /* Calls that would break the window. */
    char* big = malloc(1 << 20);
    EXPECT(in_window(big));
    memset(big, 0x5A, 1 << 20);
    errno = 0;
    EXPECT(munmap(big, 4096) == -1 && errno == EINVAL);
    EXPECT(mprotect(big, 4096, PROT_READ) == -1 && errno == EINVAL);
    EXPECT(mremap(big, 4096, 8192, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
    EXPECT(mlock(big, 4096) == -1 && errno == EINVAL);
    EXPECT(mmap(big, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED && errno == EINVAL);
    EXPECT(madvise(big, 4096, MADV_HUGEPAGE) == -1 && errno == EINVAL);
    /* DONTNEED drops this node's copy; the bytes come back from the home, not as zeros. */
    EXPECT(madvise(big, 1 << 20, MADV_DONTNEED) == 0);
    EXPECT(big[0] == 0x5A && big[(1 << 20) - 1] == 0x5A);
    EXPECT(madvise(big, 1 << 20, MADV_WILLNEED) == 0);
    /* mlockall does not fetch and pin the whole window (it would take hours): it returns. */
    EXPECT(mlockall(MCL_CURRENT) == 0);
    munlockall();
    /* Memory outside the window is untouched by all this. */
    void* plain = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(plain != MAP_FAILED && !in_window(plain));
    EXPECT(mprotect(plain, 4096, PROT_READ) == 0);
    EXPECT(munmap(plain, 8192) == 0);
    free(big);
    free(aligned);

    /* fork without exec: the child is not a node, but it has its copy of the heap (the string
     * the parent allocated) and its malloc goes on serving from it (fork_and_exec.c tests more). */
    pid_t pid = fork();
    if (pid == 0) {
        char* p = malloc(64);
        if (p == NULL) _exit(1);
        strcpy(p, s);
        free(p);
        _exit(strcmp(s, "in Aether memory") == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* fork+exec: the child inherits LD_PRELOAD and the node environment but does not join. */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s child", argv[0]);
    FILE* child = popen(cmd, "r");
    int child_in_window = -1;
    EXPECT(child != NULL && fscanf(child, "%d", &child_in_window) == 1);
    EXPECT(pclose(child) == 0);
    EXPECT(child_in_window == 0);

    free(s);
    if (failures == 0) printf("heap_and_guards: malloc family in Aether memory, window guarded, children not joined\n");
    return failures == 0 ? 0 : 1;
}
