/* Seraph_Vbit: the three-valued result of every Aether call (TRUE, FALSE, VOID). */
#ifndef SERAPH_VBIT_H
#define SERAPH_VBIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint8_t Seraph_Vbit;

#define SERAPH_VBIT_FALSE ((Seraph_Vbit)0x00)
#define SERAPH_VBIT_TRUE ((Seraph_Vbit)0x01)
#define SERAPH_VBIT_VOID ((Seraph_Vbit)0xFF)

static inline bool seraph_vbit_is_true(Seraph_Vbit v) { return v == SERAPH_VBIT_TRUE; }
static inline bool seraph_vbit_is_false(Seraph_Vbit v) { return v == SERAPH_VBIT_FALSE; }
static inline bool seraph_vbit_is_void(Seraph_Vbit v) { return v == SERAPH_VBIT_VOID; }
/* Valid means "not VOID": the operation reached a definite answer. */
static inline bool seraph_vbit_is_valid(Seraph_Vbit v) { return v != SERAPH_VBIT_VOID; }

#ifdef __cplusplus
}
#endif

#endif /* SERAPH_VBIT_H */
