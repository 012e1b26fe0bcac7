/* Aether: distributed shared memory whose addresses are plain pointers, with VOID instead of errors.
 *
 * The contract of this header is ../docs/api.md (and the project's API.md): names, enum values and
 * struct fields are ABI. Every function accepts NULL and out-of-range arguments: it returns VOID,
 * SERAPH_VOID_U64 or an error status and never crashes or throws.
 *
 * Deviation from the seed document: the seed put the Aether range at 0x0000C00000000000, which lies
 * above the 47-bit user half of x86-64 and so can never be a user-space pointer. Aether keeps the
 * seed's bit layout (node id in bits 45..32, offset in bits 31..0) and moves the base to bit 46, so an
 * Aether address is a pointer that is valid, at the same virtual address, on every node.
 */
#ifndef SERAPH_AETHER_H
#define SERAPH_AETHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbit.h"
#include "void.h"

#ifdef __cplusplus
extern "C" {
#endif

/*---------------------------------------------------------------------------------------------------
 * Constants
 *-------------------------------------------------------------------------------------------------*/

/* First and last Aether address: the window of all 16,384 nodes x 4 GiB (64 TiB), placed where a
 * process leaves room for it on x86-64 Linux: above AddressSanitizer's shadow (which ends at
 * 0x10007FFF7FFF) and below where the kernel loads PIE executables (0x5555...), their heap, the
 * mmap area and the stack (0x7F...). Part of the ABI: every node of a cluster must use the same
 * base (see docs/api.md, "The window", and CHANGELOG.md). Overridable (both together) for builds
 * whose address space is laid out differently, such as ThreadSanitizer's; the helpers below work
 * for any base. */
#ifndef SERAPH_AETHER_BASE
#define SERAPH_AETHER_BASE ((uint64_t)0x0000110000000000ULL)
#endif
#ifndef SERAPH_AETHER_END
#define SERAPH_AETHER_END ((uint64_t)0x000050FFFFFFFFFFULL)
#endif

#define SERAPH_AETHER_NODE_BITS 14
#define SERAPH_AETHER_NODE_SHIFT 32
#define SERAPH_AETHER_NODE_MASK ((uint64_t)0x00003FFF00000000ULL)
#define SERAPH_AETHER_OFFSET_BITS 32
#define SERAPH_AETHER_OFFSET_MASK ((uint64_t)0x00000000FFFFFFFFULL)
#define SERAPH_AETHER_MAX_NODES 16384
#define SERAPH_AETHER_MAX_OFFSET ((uint64_t)0xFFFFFFFFULL)
#define SERAPH_AETHER_PAGE_SIZE 4096
#define SERAPH_AETHER_MAX_SHARERS 64
#define SERAPH_AETHER_MAX_SIM_NODES 16
/* Default deadline of one remote operation; AETHER_TIMEOUT_MS or seraph_aether_set_timeout_ms
 * change it at run time. */
#define SERAPH_AETHER_TIMEOUT_MS 5000

/*---------------------------------------------------------------------------------------------------
 * Enumerations (order and values are ABI)
 *-------------------------------------------------------------------------------------------------*/

typedef enum Seraph_Aether_Fetch_Status {
    SERAPH_AETHER_OK = 0,
    SERAPH_AETHER_UNREACHABLE,
    SERAPH_AETHER_TIMEOUT,
    SERAPH_AETHER_REMOTE_ERROR,
    SERAPH_AETHER_OOM,
    SERAPH_AETHER_INVALID_ADDR,
    SERAPH_AETHER_PERMISSION,
    SERAPH_AETHER_GENERATION,
    SERAPH_AETHER_CORRUPTION,
    SERAPH_AETHER_NOT_FOUND,
    SERAPH_AETHER_RDMA_ERROR,
    SERAPH_AETHER_TCP_ERROR,
} Seraph_Aether_Fetch_Status;

typedef enum Seraph_Aether_Void_Reason {
    SERAPH_AETHER_VOID_NONE = 0,
    SERAPH_AETHER_VOID_TIMEOUT,      /* no answer before the deadline */
    SERAPH_AETHER_VOID_UNREACHABLE,  /* the node was never reached (no address, never answered) */
    SERAPH_AETHER_VOID_PARTITION,    /* the network path to a node that was up is cut */
    SERAPH_AETHER_VOID_NODE_CRASHED, /* a node that was up refuses or dropped the connection */
    SERAPH_AETHER_VOID_PERMISSION,   /* the home refused: no such allocation / not allowed */
    SERAPH_AETHER_VOID_GENERATION,   /* the home refused: freed or revoked memory */
    SERAPH_AETHER_VOID_CORRUPTION,   /* a payload failed its integrity check */
} Seraph_Aether_Void_Reason;

/* What this node knows of another (an Aether extension; seraph_aether_get_node_state). */
typedef enum Seraph_Aether_Node_State {
    SERAPH_AETHER_NODE_UNKNOWN = 0, /* never answered this node (yet), or no such node */
    SERAPH_AETHER_NODE_UP,          /* answered within AETHER_SUSPECT_MS (this node itself: always) */
    SERAPH_AETHER_NODE_SUSPECTED,   /* answered before, silent since for AETHER_SUSPECT_MS or more */
    SERAPH_AETHER_NODE_DOWN,        /* its process is gone: it refused or dropped the connection */
} Seraph_Aether_Node_State;

typedef enum Seraph_Aether_Page_State {
    SERAPH_AETHER_PAGE_INVALID = 0,
    SERAPH_AETHER_PAGE_EXCLUSIVE,
    SERAPH_AETHER_PAGE_SHARED,
} Seraph_Aether_Page_State;

typedef enum Seraph_Aether_Transport {
    SERAPH_AETHER_TRANSPORT_SIMULATED = 0,
    SERAPH_AETHER_TRANSPORT_RDMA,
    SERAPH_AETHER_TRANSPORT_TCP,
} Seraph_Aether_Transport;

typedef enum Seraph_Aether_Request_Type {
    SERAPH_AETHER_REQ_PAGE = 0,
    SERAPH_AETHER_REQ_WRITE,
    SERAPH_AETHER_REQ_REVOKE,
    SERAPH_AETHER_REQ_INVALIDATE,
    SERAPH_AETHER_REQ_GENERATION,
} Seraph_Aether_Request_Type;

typedef enum Seraph_Aether_Response_Status {
    SERAPH_AETHER_RESP_OK = 0,
    SERAPH_AETHER_RESP_ERROR,
    SERAPH_AETHER_RESP_DENIED,
    SERAPH_AETHER_RESP_NOT_FOUND,
    SERAPH_AETHER_RESP_STALE,
} Seraph_Aether_Response_Status;

/*---------------------------------------------------------------------------------------------------
 * Structures
 *-------------------------------------------------------------------------------------------------*/

typedef struct Seraph_Aether_Global_Gen {
    uint16_t node_id;   /* home node of the allocation */
    uint64_t local_gen; /* capability generation at that home (48 bits) */
} Seraph_Aether_Global_Gen;

typedef struct Seraph_Aether_Fetch_Result {
    Seraph_Aether_Fetch_Status status;
    void* page;          /* the Aether page holding the first byte (a valid pointer), or NULL */
    uint64_t generation; /* the page's generation at its home when the operation completed */
    Seraph_Aether_Void_Reason reason;
} Seraph_Aether_Fetch_Result;

/* A snapshot of this node's cache state for one page (see seraph_aether_cache_lookup). */
typedef struct Seraph_Aether_Cache_Entry {
    uint64_t aether_addr; /* page-aligned */
    void* local_page;     /* where the copy lives: the page's own address in the window */
    uint16_t owner_node;  /* home node of the page */
    uint64_t generation;  /* page generation of the cached copy */
    Seraph_Aether_Page_State state;
    bool dirty;
    bool valid;
} Seraph_Aether_Cache_Entry;

/* A snapshot of one home page's directory entry (see seraph_aether_get_directory_entry). */
typedef struct Seraph_Aether_Directory_Entry {
    uint64_t offset;
    Seraph_Aether_Page_State state;
    uint16_t exclusive_owner;
    uint16_t sharer_count;
    uint16_t sharers[SERAPH_AETHER_MAX_SHARERS];
    uint64_t generation;
    bool valid;
} Seraph_Aether_Directory_Entry;

typedef struct Seraph_Aether_Request {
    Seraph_Aether_Request_Type type;
    uint64_t offset;
    uint64_t generation;
    size_t data_size;
    uint64_t message_id;
} Seraph_Aether_Request;

typedef struct Seraph_Aether_Response {
    Seraph_Aether_Response_Status status;
    uint64_t generation;
    void* page_data; /* valid until the next handler call on the same thread */
    size_t data_size;
} Seraph_Aether_Response;

struct Seraph_Aether_Runtime;

/* Caller-allocated handle. The counters are refreshed when an API call returns; the accessors
 * (seraph_aether_get_stats, seraph_aether_cache_stats) always read the live values. */
typedef struct Seraph_Aether {
    uint16_t local_node_id;
    uint16_t node_count;
    bool initialized;
    uint64_t cache_hits;
    uint64_t cache_misses;
    uint64_t remote_fetches;
    uint64_t invalidations_sent;
    uint64_t invalidations_received;
    struct Seraph_Aether_Runtime* runtime; /* private */
} Seraph_Aether;

/*---------------------------------------------------------------------------------------------------
 * Address helpers
 *-------------------------------------------------------------------------------------------------*/

static inline uint16_t seraph_aether_get_node(uint64_t addr) {
    return (uint16_t)(((addr - SERAPH_AETHER_BASE) & SERAPH_AETHER_NODE_MASK) >> SERAPH_AETHER_NODE_SHIFT);
}

static inline uint64_t seraph_aether_get_offset(uint64_t addr) { return addr & SERAPH_AETHER_OFFSET_MASK; }

static inline uint64_t seraph_aether_make_addr(uint16_t node_id, uint64_t offset) {
    return SERAPH_AETHER_BASE + (((uint64_t)node_id << SERAPH_AETHER_NODE_SHIFT) & SERAPH_AETHER_NODE_MASK) +
           (offset & SERAPH_AETHER_OFFSET_MASK);
}

static inline bool seraph_aether_is_aether_addr(uint64_t addr) { return addr >= SERAPH_AETHER_BASE && addr <= SERAPH_AETHER_END; }

static inline uint64_t seraph_aether_page_align(uint64_t addr) { return addr & ~((uint64_t)SERAPH_AETHER_PAGE_SIZE - 1); }

static inline uint64_t seraph_aether_page_offset(uint64_t addr) { return addr & ((uint64_t)SERAPH_AETHER_PAGE_SIZE - 1); }

static inline uint64_t seraph_aether_pack_global_gen(uint16_t node_id, uint64_t local_gen) {
    return ((uint64_t)node_id << 48) | (local_gen & 0x0000FFFFFFFFFFFFULL);
}

static inline Seraph_Aether_Global_Gen seraph_aether_unpack_global_gen(uint64_t packed) {
    Seraph_Aether_Global_Gen gen;
    gen.node_id = (uint16_t)(packed >> 48);
    gen.local_gen = packed & 0x0000FFFFFFFFFFFFULL;
    return gen;
}

/*---------------------------------------------------------------------------------------------------
 * Lifecycle
 *-------------------------------------------------------------------------------------------------*/

/* VOID for a NULL handle; FALSE for node_count == 0 or > MAX_NODES, node_id >= node_count, or when
 * the window cannot be reserved (the reason is printed on stderr). */
Seraph_Vbit seraph_aether_init(Seraph_Aether* aether, uint16_t node_id, uint16_t node_count);
Seraph_Vbit seraph_aether_init_default(Seraph_Aether* aether);
/* Joins the cluster described by AETHER_NODE_ID, AETHER_NODE_COUNT, AETHER_PEERS (host:port,...;
 * position = node id) and optionally AETHER_TIMEOUT_MS, AETHER_LOG, AETHER_SECRET...; or by the
 * cluster file AETHER_CONFIG names (TOML), which the variables override. A missing or bad variable
 * gives VOID and one line on stderr naming it (a bad file: its path and line). A peer whose name
 * does not resolve yet is no error: its memory is VOID UNREACHABLE until it does. */
Seraph_Vbit seraph_aether_init_from_env(Seraph_Aether* aether);
void seraph_aether_destroy(Seraph_Aether* aether);

uint16_t seraph_aether_get_local_node_id(const Seraph_Aether* aether);
bool seraph_aether_is_local(const Seraph_Aether* aether, uint64_t addr);

/* Deadline of every remote operation started after the call, in milliseconds (>= 1). */
Seraph_Vbit seraph_aether_set_timeout_ms(Seraph_Aether* aether, uint32_t timeout_ms);
uint32_t seraph_aether_get_timeout_ms(const Seraph_Aether* aether);

/*---------------------------------------------------------------------------------------------------
 * Nodes
 *-------------------------------------------------------------------------------------------------*/

/* For the local id: sets the size of the local home memory. For another id: starts a real node
 * server inside this process (own thread, listening socket on loopback, home memory, directory),
 * reached only through the transport. FALSE for a duplicate id, an id >= node_count, or past
 * SERAPH_AETHER_MAX_SIM_NODES. */
Seraph_Vbit seraph_aether_add_sim_node(Seraph_Aether* aether, uint16_t node_id, size_t memory_size);
/* Offline: the node stops answering for real (listener and connections closed); its memory is kept
 * and served again when it comes back online. */
void seraph_aether_set_node_online(Seraph_Aether* aether, uint16_t node_id, bool online);
/* Makes a failure real on the path to node_id (see docs/failure-injection.md). */
void seraph_aether_inject_failure(Seraph_Aether* aether, uint16_t node_id, Seraph_Aether_Void_Reason reason);
void seraph_aether_clear_failure(Seraph_Aether* aether, uint16_t node_id);
/* This node's view of node_id, kept by heartbeats even while nothing is asked of it: a silent
 * node (stopped, or cut off) is SUSPECTED within AETHER_SUSPECT_MS plus a quarter of it. */
Seraph_Aether_Node_State seraph_aether_get_node_state(const Seraph_Aether* aether, uint16_t node_id);

/*---------------------------------------------------------------------------------------------------
 * Memory
 *-------------------------------------------------------------------------------------------------*/

uint64_t seraph_aether_alloc(Seraph_Aether* aether, size_t size);
uint64_t seraph_aether_alloc_on_node(Seraph_Aether* aether, uint16_t node_id, size_t size);
void seraph_aether_free(Seraph_Aether* aether, uint64_t addr, size_t size);

Seraph_Aether_Fetch_Result seraph_aether_read(Seraph_Aether* aether, uint64_t addr, void* dest, size_t size);
Seraph_Aether_Fetch_Result seraph_aether_write(Seraph_Aether* aether, uint64_t addr, const void* src, size_t size);
Seraph_Vbit seraph_aether_read_vbit(Seraph_Aether* aether, uint64_t addr, void* dest, size_t size);
Seraph_Vbit seraph_aether_write_vbit(Seraph_Aether* aether, uint64_t addr, const void* src, size_t size);

/* Home-executed atomics on 8-byte aligned words, coherent with cached copies.
 * fetch_add: TRUE and *old on success. cas: TRUE swapped, FALSE not swapped (*old holds the value
 * found), VOID failed. */
Seraph_Vbit seraph_aether_fetch_add_u64(Seraph_Aether* aether, uint64_t addr, uint64_t delta, uint64_t* old);
Seraph_Vbit seraph_aether_cas_u64(Seraph_Aether* aether, uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old);

/*---------------------------------------------------------------------------------------------------
 * Cluster coordination
 *-------------------------------------------------------------------------------------------------*/

/* All nodes of the cluster; VOID if a node is down or the deadline passes. */
Seraph_Vbit seraph_aether_barrier(Seraph_Aether* aether, uint32_t timeout_ms);
/* Hands an address to other nodes by name (names up to 255 bytes). */
Seraph_Vbit seraph_aether_publish(Seraph_Aether* aether, const char* name, uint64_t addr);
/* Waits until the name is published; SERAPH_VOID_U64 at the deadline. */
uint64_t seraph_aether_lookup(Seraph_Aether* aether, const char* name, uint32_t timeout_ms);

/*---------------------------------------------------------------------------------------------------
 * Cache
 *-------------------------------------------------------------------------------------------------*/

/* A snapshot of the local cache entry for addr's page, or NULL if it is not cached here. The
 * snapshot belongs to the calling thread and is overwritten by its next call. */
Seraph_Aether_Cache_Entry* seraph_aether_cache_lookup(Seraph_Aether* aether, uint64_t addr);
void seraph_aether_cache_invalidate(Seraph_Aether* aether, uint64_t addr);
uint32_t seraph_aether_cache_flush(Seraph_Aether* aether);
void seraph_aether_cache_clear(Seraph_Aether* aether);
void seraph_aether_cache_stats(const Seraph_Aether* aether, uint64_t* hits, uint64_t* misses);

/*---------------------------------------------------------------------------------------------------
 * Generations and revocation
 *-------------------------------------------------------------------------------------------------*/

uint64_t seraph_aether_get_generation(Seraph_Aether* aether, uint64_t addr);
uint64_t seraph_aether_get_global_gen(Seraph_Aether* aether, uint64_t addr);
Seraph_Vbit seraph_aether_revoke(Seraph_Aether* aether, uint64_t addr);
Seraph_Vbit seraph_aether_check_generation(Seraph_Aether* aether, uint64_t addr, uint64_t expected_gen);

/*---------------------------------------------------------------------------------------------------
 * Home-side protocol handlers (the code the network dispatcher runs, callable directly)
 *-------------------------------------------------------------------------------------------------*/

Seraph_Aether_Response seraph_aether_handle_read_request(Seraph_Aether* aether, uint16_t requester_node, uint64_t offset);
Seraph_Aether_Response seraph_aether_handle_write_request(Seraph_Aether* aether, uint16_t requester_node, uint64_t offset,
                                                          const void* data, size_t size);
void seraph_aether_handle_invalidate(Seraph_Aether* aether, uint64_t addr, uint64_t new_generation);
void seraph_aether_broadcast_invalidation(Seraph_Aether* aether, uint64_t offset, uint64_t new_generation);

/* A snapshot of the directory entry of a local home page (created on first use). It is owned by
 * the runtime and refreshed by every call; editing it does not change the live directory. */
Seraph_Aether_Directory_Entry* seraph_aether_get_directory_entry(Seraph_Aether* aether, uint16_t node_id, uint64_t offset);
void seraph_aether_directory_add_sharer(Seraph_Aether_Directory_Entry* entry, uint16_t node_id);
void seraph_aether_directory_remove_sharer(Seraph_Aether_Directory_Entry* entry, uint16_t node_id);

/*---------------------------------------------------------------------------------------------------
 * VOID context (thread-local)
 *-------------------------------------------------------------------------------------------------*/

Seraph_Aether_Void_Reason seraph_aether_get_void_reason(void);
uint64_t seraph_aether_get_void_addr(void);
void seraph_aether_clear_void_context(void);
const char* seraph_aether_void_reason_name(Seraph_Aether_Void_Reason reason);
const char* seraph_aether_fetch_status_name(Seraph_Aether_Fetch_Status status);

/*---------------------------------------------------------------------------------------------------
 * Statistics
 *-------------------------------------------------------------------------------------------------*/

void seraph_aether_get_stats(const Seraph_Aether* aether, uint64_t* cache_hits, uint64_t* cache_misses, uint64_t* remote_fetches,
                             uint64_t* invalidations_sent, uint64_t* invalidations_received);
void seraph_aether_reset_stats(Seraph_Aether* aether);

#ifdef __cplusplus
}
#endif

#endif /* SERAPH_AETHER_H */
