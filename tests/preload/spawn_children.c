/* An ordinary C program, preloaded with AETHER_HEAP=1: starts children with system(), popen() or
 * posix_spawn() (argv[1]), both from the node itself and from a forked child that does not exec
 * and keeps running on its copy of the heap, and checks what each child printed. The commands and
 * their arguments live in malloc'd memory, so the children's setup reads the Aether heap. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#define LINES 20000

/* What `seq 1 LINES | gzip -c | gzip -dc | wc -l` prints, as the expected answer. */
static char* expected_count(void) {
    char* s = malloc(32);
    snprintf(s, 32, "%d", LINES);
    return s;
}

static char* pipeline(void) {
    char* cmd = malloc(128);
    snprintf(cmd, 128, "seq 1 %d | gzip -c | gzip -dc | wc -l", LINES);
    return cmd;
}

/* Everything `fd` delivers until EOF, in a malloc'd string without the trailing newline. */
static char* slurp(int fd) {
    size_t cap = 64, len = 0;
    char* out = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) out = realloc(out, cap *= 2);
        ssize_t n = read(fd, out + len, cap - len - 1);
        if (n <= 0) break;
        len += (size_t)n;
    }
    while (len > 0 && out[len - 1] == '\n') --len;
    out[len] = '\0';
    return out;
}

static char* run_system(const char* tag) {
    char* path = malloc(256);
    snprintf(path, 256, "/tmp/aether-spawn-%d-%zu.txt", (int)getpid(), strlen(tag));
    char* cmd = malloc(512);
    char* p = pipeline();
    snprintf(cmd, 512, "%s > %s", p, path);
    int rc = system(cmd);
    int fd = open(path, O_RDONLY);
    char* out = fd >= 0 ? slurp(fd) : strdup("(no output file)");
    if (fd >= 0) close(fd);
    unlink(path);
    if (rc != 0) fprintf(stderr, "%s: system() returned %d\n", tag, rc);
    free(cmd);
    free(p);
    free(path);
    return out;
}

static char* run_popen(const char* tag) {
    char* p = pipeline();
    FILE* f = popen(p, "r");
    if (f == NULL) return strdup("(popen failed)");
    char* out = slurp(fileno(f));
    int rc = pclose(f);
    if (rc != 0) fprintf(stderr, "%s: pclose() returned %d\n", tag, rc);
    free(p);
    return out;
}

static char* run_spawn(const char* tag) {
    int fds[2];
    if (pipe(fds) != 0) return strdup("(pipe failed)");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char** argv = calloc(4, sizeof *argv);
    argv[0] = strdup("sh");
    argv[1] = strdup("-c");
    argv[2] = pipeline();
    pid_t pid;
    int rc = posix_spawnp(&pid, "sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    char* out = rc == 0 ? slurp(fds[0]) : strdup("(posix_spawn failed)");
    close(fds[0]);
    int status = 0;
    if (rc == 0) waitpid(pid, &status, 0);
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) fprintf(stderr, "%s: spawned child status %d\n", tag, status);
    for (int i = 0; i < 3; ++i) free(argv[i]);
    free(argv);
    return out;
}

static int check(const char* mode, const char* tag) {
    char* (*run)(const char*) = strcmp(mode, "system") == 0 ? run_system : strcmp(mode, "popen") == 0 ? run_popen : run_spawn;
    char* want = expected_count();
    char* got = run(tag);
    int ok = strcmp(got, want) == 0;
    printf("%s from the %s: child printed \"%s\" (expected \"%s\")\n", mode, tag, got, want);
    fflush(stdout);
    free(got);
    free(want);
    return ok;
}

int main(int argc, char** argv) {
    if (argc != 2 || (strcmp(argv[1], "system") != 0 && strcmp(argv[1], "popen") != 0 && strcmp(argv[1], "posix_spawn") != 0)) {
        fprintf(stderr, "usage: spawn_children system|popen|posix_spawn\n");
        return 2;
    }
    int ok = check(argv[1], "node");
    /* A forked child that does not exec: a daemon-style worker that starts commands itself. */
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) exit(check(argv[1], "forked child") ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "the forked child ended with status %#x%s\n", status, WIFSIGNALED(status) ? " (killed by a signal)" : "");
        ok = 0;
    }
    ok = ok && check(argv[1], "node after the fork");
    return ok ? 0 : 1;
}
