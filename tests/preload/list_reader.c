/* An ordinary C program (no Aether headers, not linked with Aether): reads a pointer from a file
 * and walks the linked list behind it, which lives in another process on another node. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "list_item.h"

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int waited = 0; access(argv[1], F_OK) != 0; ++waited) {
        if (waited > 6000) return 3;
        nanosleep(&pause, NULL);
    }
    FILE* f = fopen(argv[1], "r");
    void* p = NULL;
    if (f == NULL || fscanf(f, "%p", &p) != 1) return 4;
    fclose(f);
    uint64_t sum = 0, expected = 0;
    int n = 0, labels_ok = 1;
    for (const struct item* it = p; it != NULL; it = it->next, ++n) {
        sum += it->value;
        char want[24];
        snprintf(want, sizeof want, "item %d", n);
        if (strcmp(want, it->label) != 0) labels_ok = 0;
    }
    for (int i = 0; i < COUNT; ++i) expected += (uint64_t)i * 3 + 1;
    printf("reader: walked %d items from %p: sum %llu (expected %llu), labels %s\n", n, p, (unsigned long long)sum,
           (unsigned long long)expected, labels_ok ? "intact" : "WRONG");
    FILE* done = fopen(argv[2], "w");
    if (done != NULL) fclose(done);
    return (n == COUNT && sum == expected && labels_ok) ? 0 : 1;
}
