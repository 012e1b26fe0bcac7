/* The list list_writer builds and list_reader walks. Plain C, no Aether: both programs must stay
 * ordinary programs that only LD_PRELOAD makes nodes. */
#ifndef AETHER_TEST_LIST_ITEM_H
#define AETHER_TEST_LIST_ITEM_H

#include <stdint.h>

#define COUNT 5000

struct item {
    uint64_t value;
    char label[24];
    struct item* next;
};

#endif
