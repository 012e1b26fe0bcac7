/* Two ordinary C programs in one (the role is argv[1]), preloaded with AETHER_HEAP=1 on two nodes:
 * the owner allocates a buffer on its heap and hands its address over a file; the writer, on the
 * other node, stores into it through the plain pointer (so it then holds those pages exclusive:
 * the owner's window and home store have the old bytes) and says so; the owner then forks. Its
 * child must see the writer's bytes: pages another node holds exclusive are brought back before
 * the fork. The owner's own pages that the writer only read come along too, and so do pages the
 * writer stored into and then gave back (its copy dropped: the bytes are in the owner's home store,
 * not in its window). */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BYTES (96 * 4096)
#define WRITTEN (32 * 4096)    /* [0, WRITTEN): stored into, kept exclusive by the writer */
#define GIVEN_BACK (64 * 4096) /* [WRITTEN, GIVEN_BACK): stored into, then dropped */
                               /* [GIVEN_BACK, BYTES): read only */

static int wait_for(const char* path) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int waited = 0; access(path, F_OK) != 0; ++waited) {
        if (waited > 6000) return 0;
        nanosleep(&pause, NULL);
    }
    return 1;
}

static void touch(const char* path) {
    FILE* f = fopen(path, "w");
    if (f != NULL) fclose(f);
}

static unsigned char written(size_t i) { return (unsigned char)(0xA0 + i % 13); }
static unsigned char original(size_t i) { return (unsigned char)(i % 7); }

/* argv: owner|writer ADDRESS_FILE WRITTEN_FILE DONE_FILE */
int main(int argc, char** argv) {
    if (argc != 5) return 2;
    const char *addr_file = argv[2], *written_file = argv[3], *done_file = argv[4];
    if (strcmp(argv[1], "writer") == 0) {
        if (!wait_for(addr_file)) return 3;
        FILE* f = fopen(addr_file, "r");
        unsigned char* buf = NULL;
        if (f == NULL || fscanf(f, "%p", (void**)&buf) != 1) return 4;
        fclose(f);
        /* Stores (this node then holds those pages exclusive), then loads only (the owner keeps
         * a read-only copy). */
        int seen_ok = 1;
        for (size_t i = 0; i < GIVEN_BACK; ++i) buf[i] = written(i);
        for (size_t i = GIVEN_BACK; i < BYTES; ++i) seen_ok &= buf[i] == original(i);
        /* "Not needed here": the preload library sends these pages' bytes home, drops the copy. */
        if (madvise(buf + WRITTEN, GIVEN_BACK - WRITTEN, MADV_DONTNEED) != 0) seen_ok = 0;
        printf("writer: stored into %p, gave part back, read the rest: %s\n", (void*)buf, seen_ok ? "ok" : "WRONG");
        fflush(stdout);
        touch(written_file);
        /* Keep the pages exclusive (and this process alive) until the owner is done. */
        return wait_for(done_file) && seen_ok ? 0 : 5;
    }
    unsigned char* buf = malloc(BYTES);
    for (size_t i = 0; i < BYTES; ++i) buf[i] = original(i);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", addr_file);
    FILE* f = fopen(tmp, "w");
    if (f == NULL) return 6;
    fprintf(f, "%p\n", (void*)buf);
    fclose(f);
    rename(tmp, addr_file);
    if (!wait_for(written_file)) return 7;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        size_t wrong = 0;
        for (size_t i = 0; i < BYTES; ++i) wrong += buf[i] != (i < GIVEN_BACK ? written(i) : original(i));
        printf("owner's child: %zu of %d bytes differ from what the two nodes last stored\n", wrong, BYTES);
        fflush(stdout);
        _exit(wrong == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    /* The owner itself reads the writer's bytes too (through the home, as always). */
    size_t wrong = 0;
    for (size_t i = 0; i < BYTES; ++i) wrong += buf[i] != (i < GIVEN_BACK ? written(i) : original(i));
    touch(done_file);
    printf("owner: child status %d, %zu bytes differ here\n", status, wrong);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && wrong == 0 ? 0 : 1;
}
