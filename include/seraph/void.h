/* VOID sentinels: the value a failed operation yields instead of an exception. */
#ifndef SERAPH_VOID_H
#define SERAPH_VOID_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* All bits set: a plain 64-bit load from unreachable Aether memory yields exactly this. */
#define SERAPH_VOID_U64 ((uint64_t)0xFFFFFFFFFFFFFFFFULL)
#define SERAPH_VOID_U32 ((uint32_t)0xFFFFFFFFU)
#define SERAPH_VOID_U16 ((uint16_t)0xFFFFU)
#define SERAPH_VOID_U8 ((uint8_t)0xFFU)

static inline bool seraph_is_void_u64(uint64_t v) { return v == SERAPH_VOID_U64; }
static inline bool seraph_is_void_u32(uint32_t v) { return v == SERAPH_VOID_U32; }

#ifdef __cplusplus
}
#endif

#endif /* SERAPH_VOID_H */
