/* An ordinary C program (no Aether headers, not linked with Aether): builds a linked list with
 * malloc, writes the head pointer to a file, and stays alive until the reader says it is done. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "list_item.h"

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    struct item* head = NULL;
    for (int i = COUNT - 1; i >= 0; --i) {
        struct item* it = malloc(sizeof *it);
        if (it == NULL) return 3;
        it->value = (uint64_t)i * 3 + 1;
        snprintf(it->label, sizeof it->label, "item %d", i);
        it->next = head;
        head = it;
    }
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE* f = fopen(tmp, "w");
    if (f == NULL) return 4;
    fprintf(f, "%p\n", (void*)head);
    fclose(f);
    rename(tmp, argv[1]); /* the reader never sees a half-written file */
    printf("writer: list of %d items built with malloc, head %p written to %s\n", COUNT, (void*)head, argv[1]);
    fflush(stdout);
    /* This process's memory holds the list: stay until the reader is done with it. */
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int waited = 0; access(argv[2], F_OK) != 0; ++waited) {
        if (waited > 6000) return 5;
        nanosleep(&pause, NULL);
    }
    return 0;
}
