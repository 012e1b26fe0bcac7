/* Stand-in for libaether_preload.so: announces on stderr that the dynamic loader really preloaded it. */
#include <unistd.h>

__attribute__((constructor)) static void launcher_preload_stub_announce(void) {
    static const char msg[] = "launcher-preload-stub: loaded\n";
    /* Nothing to do if stderr is gone; the test then fails on the missing line, which is the point. */
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}
