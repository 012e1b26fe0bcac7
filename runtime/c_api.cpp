// The C API of include/seraph/aether.h: argument checks, VOID context, and conversion to and from
// the runtime. No exception crosses this boundary and no bad argument crashes it.
#include <seraph/aether.h>

#include "aether/internal/log.hpp"
#include "aether/internal/runtime_scope.hpp"
#include "runtime/c_api_access.hpp"
#include "runtime/launch/pmix.hpp"
#include "runtime/runtime.hpp"
#include "runtime/void_context.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

using namespace aether;

struct Seraph_Aether_Runtime {
    static constexpr std::uint64_t live_magic = 0x4145544845524C56ull; // "AETHERLV"
    std::uint64_t magic = live_magic;
    std::unique_ptr<runtime> rt;
    std::mutex exports_mu;
    std::map<std::pair<node_id, std::uint32_t>, std::unique_ptr<Seraph_Aether_Directory_Entry>> directory_exports;
};

namespace {

runtime* runtime_of(const Seraph_Aether* a) noexcept {
    if (a == nullptr || !a->initialized || a->runtime == nullptr) return nullptr;
    if (a->runtime->magic != Seraph_Aether_Runtime::live_magic) return nullptr;
    return a->runtime->rt.get();
}

// The public counters are refreshed on the way out of every call (the accessors read live values).
void publish_stats(Seraph_Aether* a, runtime& rt) noexcept {
    auto& c = rt.counters();
    auto put = [](std::uint64_t& field, const std::atomic<std::uint64_t>& v) {
        std::atomic_ref<std::uint64_t>(field).store(v.load(std::memory_order_relaxed), std::memory_order_relaxed);
    };
    put(a->cache_hits, c.cache_hits);
    put(a->cache_misses, c.cache_misses);
    put(a->remote_fetches, c.remote_fetches);
    put(a->invalidations_sent, c.invalidations_sent);
    put(a->invalidations_received, c.invalidations_received);
}

} // namespace

runtime* aether::runtime_of_handle(const Seraph_Aether* handle) noexcept { return runtime_of(handle); }

namespace {

bool valid_address(const runtime& rt, std::uint64_t addr, std::size_t size) noexcept {
    if (!is_aether(addr) || node_of(addr) >= rt.node_count()) return false;
    if (size == 0) return true;
    // The whole range stays within one node's 4 GiB (it cannot wrap into the next node).
    return offset_of(addr) + (size - 1) <= SERAPH_AETHER_MAX_OFFSET;
}

// The 64-bit atomics work on one aligned word of Aether memory.
bool valid_word(const runtime& rt, std::uint64_t addr) noexcept { return valid_address(rt, addr, 8) && (addr & 7) == 0; }

Seraph_Aether_Fetch_Result ok_result(std::uint64_t addr, std::uint64_t generation) noexcept {
    return Seraph_Aether_Fetch_Result{SERAPH_AETHER_OK, as_ptr(page_floor(addr)), generation, SERAPH_AETHER_VOID_NONE};
}

Seraph_Aether_Fetch_Result failed_result(failure f, std::uint64_t addr) noexcept {
    set_void_context(f.reason, addr);
    return Seraph_Aether_Fetch_Result{static_cast<Seraph_Aether_Fetch_Status>(f.status), nullptr, 0,
                                      static_cast<Seraph_Aether_Void_Reason>(f.reason)};
}

// Arguments that are not an operation on Aether memory at all.
const failure invalid_argument{fetch_status::invalid_addr, void_reason::none};
// An address outside the cluster's window, or memory this node may not touch.
const failure invalid_address{fetch_status::invalid_addr, void_reason::permission};

template <class T, class F>
T guarded(T on_error, F&& body) noexcept {
    runtime_scope scope;
    try {
        return body();
    } catch (const std::exception& e) {
        log::runtime().error("internal error: {}", e.what());
    } catch (...) {
        log::runtime().error("internal error");
    }
    return on_error;
}

// What a call returns if the runtime failed internally (never expected; no side effects).
constexpr Seraph_Aether_Fetch_Result internal_error_result{SERAPH_AETHER_REMOTE_ERROR, nullptr, 0, SERAPH_AETHER_VOID_NONE};

// The integer a C caller passed for an enum parameter. A C caller may pass any int; in C++ a value
// outside the enumerators is not a valid enum value, so it is read as raw bytes, never as the enum.
template <class Enum>
unsigned raw_value(const Enum& e) noexcept {
    std::underlying_type_t<Enum> raw;
    std::memcpy(&raw, &e, sizeof raw);
    return static_cast<unsigned>(raw);
}

// seraph_aether_read and seraph_aether_write: the same checks and result around `op`, the
// runtime's read or write (`Buffer`: void or const void).
template <class Buffer>
Seraph_Aether_Fetch_Result transfer(Seraph_Aether* aether, std::uint64_t addr, Buffer* buf, std::size_t size,
                                    result<std::uint64_t> (runtime::*op)(std::uint64_t, Buffer*, std::size_t,
                                                                         std::uint64_t*)) noexcept {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || buf == nullptr) return failed_result(invalid_argument, addr);
    if (!valid_address(*rt, addr, size)) return failed_result(invalid_address, addr);
    if (size == 0) return ok_result(addr, 0);
    return guarded(internal_error_result, [&] {
        std::uint64_t failed_at = addr;
        auto r = (rt->*op)(addr, buf, size, &failed_at);
        publish_stats(aether, *rt);
        return r ? ok_result(addr, r.value()) : failed_result(r.error(), failed_at);
    });
}

Seraph_Vbit to_vbit(bool ok) noexcept { return ok ? SERAPH_VBIT_TRUE : SERAPH_VBIT_VOID; }

// TRUE for a result that has a value; otherwise VOID, with the thread's context set to its reason.
template <class T>
Seraph_Vbit vbit_of(const result<T>& r, std::uint64_t addr) noexcept {
    if (r.ok()) return SERAPH_VBIT_TRUE;
    set_void_context(r.error().reason, addr);
    return SERAPH_VBIT_VOID;
}

// The value of a result; otherwise SERAPH_VOID_U64, with the thread's context set to its reason.
// NOLINTNEXTLINE(bugprone-exception-escape): value() and error() throw only when asked for the other alternative
std::uint64_t u64_of(const result<std::uint64_t>& r, std::uint64_t addr) noexcept {
    if (r.ok()) return r.value();
    set_void_context(r.error().reason, addr);
    return SERAPH_VOID_U64;
}

// AETHER_LISTEN_FD names a socket for the first node this process starts from the environment:
// that node takes it over and closes it with itself. A later init in the same process binds its
// address itself, since by then the number may name another file.
std::atomic<bool> inherited_listener_offered{false};

// Where a failed start meets the C caller, the one place it is turned into what the caller gets:
// the message on stderr (the init functions have no other way to say why), and errno set to the
// cause (EINVAL for a configuration that is wrong in itself) for a program that acts on it.
void report(const setup_error& e) noexcept {
    std::fprintf(stderr, "aether: %s\n", e.message.c_str());
    errno = e.code != 0 ? e.code : EINVAL;
}

Seraph_Vbit start(Seraph_Aether* aether, const runtime_config& config) {
    auto rt = runtime::create(config);
    if (!rt) {
        report(rt.error());
        return SERAPH_VBIT_FALSE;
    }
    auto holder = std::make_unique<Seraph_Aether_Runtime>();
    holder->rt = std::move(rt).value();
    aether->local_node_id = config.self;
    aether->node_count = config.node_count;
    aether->cache_hits = aether->cache_misses = aether->remote_fetches = 0;
    aether->invalidations_sent = aether->invalidations_received = 0;
    aether->runtime = holder.release();
    aether->initialized = true;
    return SERAPH_VBIT_TRUE;
}

void clear_handle(Seraph_Aether* aether) noexcept {
    aether->initialized = false;
    aether->runtime = nullptr;
    aether->local_node_id = 0;
    aether->node_count = 0;
}

} // namespace

extern "C" {

// ---- lifecycle ------------------------------------------------------------------------------------

Seraph_Vbit seraph_aether_init(Seraph_Aether* aether, uint16_t node_id, uint16_t node_count) {
    if (aether == nullptr) return SERAPH_VBIT_VOID;
    clear_handle(aether);
    if (node_count == 0 || node_count > SERAPH_AETHER_MAX_NODES || node_id >= node_count) {
        errno = EINVAL;
        return SERAPH_VBIT_FALSE;
    }
    return guarded(SERAPH_VBIT_FALSE, [&] {
        runtime_config c;
        c.self = node_id;
        c.node_count = node_count;
        if (auto applied = apply_optional_env(c); !applied) {
            report(applied.error());
            return SERAPH_VBIT_FALSE;
        }
        return start(aether, c);
    });
}

Seraph_Vbit seraph_aether_init_default(Seraph_Aether* aether) { return seraph_aether_init(aether, 0, 1); }

Seraph_Vbit seraph_aether_init_from_env(Seraph_Aether* aether) {
    if (aether == nullptr) return SERAPH_VBIT_VOID;
    clear_handle(aether);
    return guarded(SERAPH_VBIT_VOID, [&] {
        const bool pmix = launch::use_pmix();
        auto c = pmix ? launch::config_from_pmix() : config_from_env();
        if (!c) {
            report(c.error());
            return SERAPH_VBIT_VOID;
        }
        // The PMIx bootstrap opens a listener for this node; a launcher's (AETHER_LISTEN_FD) is
        // one per process.
        if (!pmix && c->listen_fd >= 0 && inherited_listener_offered.exchange(true)) c->listen_fd = -1;
        Seraph_Vbit v = start(aether, *c);
        return v == SERAPH_VBIT_TRUE ? v : SERAPH_VBIT_VOID;
    });
}

void seraph_aether_destroy(Seraph_Aether* aether) {
    if (aether == nullptr) return;
    if (runtime_of(aether) != nullptr) {
        guarded(0, [&] {
            aether->runtime->magic = 0;
            delete aether->runtime;
            return 0;
        });
    }
    clear_handle(aether);
}

uint16_t seraph_aether_get_local_node_id(const Seraph_Aether* aether) {
    runtime* rt = runtime_of(aether);
    return rt != nullptr ? rt->self() : SERAPH_VOID_U16;
}

bool seraph_aether_is_local(const Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    return rt != nullptr && is_aether(addr) && node_of(addr) == rt->self();
}

Seraph_Vbit seraph_aether_set_timeout_ms(Seraph_Aether* aether, uint32_t timeout_ms) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VBIT_VOID;
    if (timeout_ms == 0) return SERAPH_VBIT_FALSE;
    rt->set_timeout_ms(timeout_ms);
    return SERAPH_VBIT_TRUE;
}

uint32_t seraph_aether_get_timeout_ms(const Seraph_Aether* aether) {
    runtime* rt = runtime_of(aether);
    return rt != nullptr ? rt->timeout_ms() : 0;
}

// ---- nodes ----------------------------------------------------------------------------------------

Seraph_Vbit seraph_aether_add_sim_node(Seraph_Aether* aether, uint16_t node_id, size_t memory_size) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VBIT_VOID;
    if (memory_size == 0 || memory_size > node_span) return SERAPH_VBIT_FALSE;
    return guarded(SERAPH_VBIT_FALSE, [&] {
        auto r = rt->add_sim_node(node_id, memory_size);
        publish_stats(aether, *rt);
        return r == runtime::add_result::added ? SERAPH_VBIT_TRUE : SERAPH_VBIT_FALSE;
    });
}

void seraph_aether_set_node_online(Seraph_Aether* aether, uint16_t node_id, bool online) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || node_id >= rt->node_count()) return;
    guarded(0, [&] {
        rt->set_node_online(node_id, online);
        return 0;
    });
}

void seraph_aether_inject_failure(Seraph_Aether* aether, uint16_t node_id, Seraph_Aether_Void_Reason reason) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || node_id >= rt->node_count()) return;
    const unsigned raw = raw_value(reason);
    if (raw > SERAPH_AETHER_VOID_CORRUPTION) return;
    guarded(0, [&] {
        rt->inject_failure(node_id, static_cast<void_reason>(raw));
        return 0;
    });
}

void seraph_aether_clear_failure(Seraph_Aether* aether, uint16_t node_id) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || node_id >= rt->node_count()) return;
    guarded(0, [&] {
        rt->clear_failure(node_id);
        return 0;
    });
}

Seraph_Aether_Node_State seraph_aether_get_node_state(const Seraph_Aether* aether, uint16_t node_id) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || node_id >= rt->node_count()) return SERAPH_AETHER_NODE_UNKNOWN;
    switch (rt->state_of(node_id)) {
    case runtime::node_state::unknown: return SERAPH_AETHER_NODE_UNKNOWN;
    case runtime::node_state::up: return SERAPH_AETHER_NODE_UP;
    case runtime::node_state::suspected: return SERAPH_AETHER_NODE_SUSPECTED;
    case runtime::node_state::down: return SERAPH_AETHER_NODE_DOWN;
    }
    return SERAPH_AETHER_NODE_UNKNOWN;
}

// ---- memory ---------------------------------------------------------------------------------------

uint64_t seraph_aether_alloc_on_node(Seraph_Aether* aether, uint16_t node_id, size_t size) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || size == 0 || size > node_span) return SERAPH_VOID_U64;
    if (node_id >= rt->node_count()) {
        set_void_context(void_reason::unreachable, 0);
        return SERAPH_VOID_U64;
    }
    return guarded(SERAPH_VOID_U64, [&]() -> uint64_t {
        auto r = rt->alloc_on(node_id, size);
        publish_stats(aether, *rt);
        if (!r) {
            if (r.error().reason != void_reason::none) set_void_context(r.error().reason, make_addr(node_id, 0));
            return SERAPH_VOID_U64;
        }
        return r.value();
    });
}

uint64_t seraph_aether_alloc(Seraph_Aether* aether, size_t size) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VOID_U64;
    return seraph_aether_alloc_on_node(aether, rt->self(), size);
}

void seraph_aether_free(Seraph_Aether* aether, uint64_t addr, size_t size) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, size)) return;
    guarded(0, [&] {
        auto r = rt->free(addr);
        if (!r) set_void_context(r.error().reason, addr);
        publish_stats(aether, *rt);
        return 0;
    });
}

Seraph_Aether_Fetch_Result seraph_aether_read(Seraph_Aether* aether, uint64_t addr, void* dest, size_t size) {
    return transfer(aether, addr, dest, size, &runtime::read);
}

Seraph_Aether_Fetch_Result seraph_aether_write(Seraph_Aether* aether, uint64_t addr, const void* src, size_t size) {
    return transfer(aether, addr, src, size, &runtime::write);
}

Seraph_Vbit seraph_aether_read_vbit(Seraph_Aether* aether, uint64_t addr, void* dest, size_t size) {
    return to_vbit(seraph_aether_read(aether, addr, dest, size).status == SERAPH_AETHER_OK);
}

Seraph_Vbit seraph_aether_write_vbit(Seraph_Aether* aether, uint64_t addr, const void* src, size_t size) {
    return to_vbit(seraph_aether_write(aether, addr, src, size).status == SERAPH_AETHER_OK);
}

Seraph_Vbit seraph_aether_fetch_add_u64(Seraph_Aether* aether, uint64_t addr, uint64_t delta, uint64_t* old) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VBIT_VOID;
    if (!valid_word(*rt, addr)) {
        set_void_context(void_reason::permission, addr);
        return SERAPH_VBIT_VOID;
    }
    return guarded(SERAPH_VBIT_VOID, [&] {
        auto r = rt->fetch_add(addr, delta);
        publish_stats(aether, *rt);
        if (r.ok() && old != nullptr) *old = r.value();
        return vbit_of(r, addr);
    });
}

Seraph_Vbit seraph_aether_cas_u64(Seraph_Aether* aether, uint64_t addr, uint64_t expected, uint64_t desired, uint64_t* old) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VBIT_VOID;
    if (!valid_word(*rt, addr)) {
        set_void_context(void_reason::permission, addr);
        return SERAPH_VBIT_VOID;
    }
    return guarded(SERAPH_VBIT_VOID, [&] {
        auto r = rt->compare_swap(addr, expected, desired);
        publish_stats(aether, *rt);
        if (!r) {
            set_void_context(r.error().reason, addr);
            return SERAPH_VBIT_VOID;
        }
        if (old != nullptr) *old = r->old;
        return r->swapped ? SERAPH_VBIT_TRUE : SERAPH_VBIT_FALSE;
    });
}

// ---- cluster coordination -----------------------------------------------------------------------

Seraph_Vbit seraph_aether_barrier(Seraph_Aether* aether, uint32_t timeout_ms) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return SERAPH_VBIT_VOID;
    return guarded(SERAPH_VBIT_VOID, [&] {
        auto r = rt->barrier(timeout_ms == 0 ? rt->timeout_ms() : timeout_ms);
        publish_stats(aether, *rt);
        return vbit_of(r, 0);
    });
}

Seraph_Vbit seraph_aether_publish(Seraph_Aether* aether, const char* name, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || name == nullptr) return SERAPH_VBIT_VOID;
    std::size_t len = strnlen(name, 256);
    if (len == 0 || len > 255) return SERAPH_VBIT_VOID;
    return guarded(SERAPH_VBIT_VOID, [&] { return vbit_of(rt->publish(std::string(name, len), addr), addr); });
}

uint64_t seraph_aether_lookup(Seraph_Aether* aether, const char* name, uint32_t timeout_ms) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || name == nullptr) return SERAPH_VOID_U64;
    std::size_t len = strnlen(name, 256);
    if (len == 0 || len > 255) return SERAPH_VOID_U64;
    return guarded(SERAPH_VOID_U64, [&]() -> uint64_t {
        auto r = rt->lookup(std::string(name, len), timeout_ms);
        if (!r) {
            set_void_context(r.error().reason, 0);
            return SERAPH_VOID_U64;
        }
        return r.value();
    });
}

// ---- cache ----------------------------------------------------------------------------------------

Seraph_Aether_Cache_Entry* seraph_aether_cache_lookup(Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return nullptr;
    static thread_local Seraph_Aether_Cache_Entry entry;
    auto s = rt->local_cache().snapshot(page_floor(addr));
    if (!is_readable(s.state)) return nullptr;
    entry.aether_addr = page_floor(addr);
    entry.local_page = as_ptr(page_floor(addr));
    entry.owner_node = node_of(addr);
    entry.generation = s.generation;
    entry.state = s.state == cache_state::shared ? SERAPH_AETHER_PAGE_SHARED : SERAPH_AETHER_PAGE_EXCLUSIVE;
    entry.dirty = s.state != cache_state::shared;
    entry.valid = true;
    return &entry;
}

void seraph_aether_cache_invalidate(Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return;
    guarded(0, [&] {
        auto r = rt->drop_copy(page_floor(addr));
        if (!r) set_void_context(r.error().reason, addr);
        publish_stats(aether, *rt);
        return 0;
    });
}

uint32_t seraph_aether_cache_flush(Seraph_Aether* aether) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return 0;
    return guarded(0u, [&] {
        auto n = rt->flush_all();
        publish_stats(aether, *rt);
        return n;
    });
}

void seraph_aether_cache_clear(Seraph_Aether* aether) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return;
    guarded(0, [&] {
        rt->clear_remote_copies();
        publish_stats(aether, *rt);
        return 0;
    });
}

void seraph_aether_cache_stats(const Seraph_Aether* aether, uint64_t* hits, uint64_t* misses) {
    runtime* rt = runtime_of(aether);
    if (hits != nullptr) *hits = rt != nullptr ? rt->counters().cache_hits.load() : 0;
    if (misses != nullptr) *misses = rt != nullptr ? rt->counters().cache_misses.load() : 0;
}

// ---- generations ------------------------------------------------------------------------------------

uint64_t seraph_aether_get_generation(Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return SERAPH_VOID_U64;
    return guarded(SERAPH_VOID_U64, [&] { return u64_of(rt->page_generation(addr), addr); });
}

uint64_t seraph_aether_get_global_gen(Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return SERAPH_VOID_U64;
    return guarded(SERAPH_VOID_U64, [&] {
        auto r = rt->capability_generation(addr);
        return r ? seraph_aether_pack_global_gen(node_of(addr), r.value()) : u64_of(r, addr);
    });
}

Seraph_Vbit seraph_aether_revoke(Seraph_Aether* aether, uint64_t addr) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return SERAPH_VBIT_VOID;
    return guarded(SERAPH_VBIT_VOID, [&] {
        auto r = rt->revoke(addr);
        publish_stats(aether, *rt);
        return vbit_of(r, addr);
    });
}

Seraph_Vbit seraph_aether_check_generation(Seraph_Aether* aether, uint64_t addr, uint64_t expected_gen) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return SERAPH_VBIT_VOID;
    return guarded(SERAPH_VBIT_VOID, [&] {
        auto r = rt->capability_generation(addr);
        if (!r) {
            // Freed memory: every capability to it is revoked. Anything else: we cannot know.
            if (r.error().reason == void_reason::generation) return SERAPH_VBIT_FALSE;
            set_void_context(r.error().reason, addr);
            return SERAPH_VBIT_VOID;
        }
        return seraph_aether_pack_global_gen(node_of(addr), r.value()) == expected_gen ? SERAPH_VBIT_TRUE : SERAPH_VBIT_FALSE;
    });
}

// ---- home-side handlers ---------------------------------------------------------------------------

namespace {

Seraph_Aether_Response_Status response_status(const failure& f) noexcept {
    switch (f.reason) {
    case void_reason::permission:
        return f.status == fetch_status::invalid_addr ? SERAPH_AETHER_RESP_NOT_FOUND : SERAPH_AETHER_RESP_DENIED;
    case void_reason::generation: return SERAPH_AETHER_RESP_STALE;
    default: return SERAPH_AETHER_RESP_ERROR;
    }
}

Seraph_Aether_Response error_response() noexcept { return Seraph_Aether_Response{SERAPH_AETHER_RESP_ERROR, 0, nullptr, 0}; }

} // namespace

Seraph_Aether_Response seraph_aether_handle_read_request(Seraph_Aether* aether, uint16_t requester_node, uint64_t offset) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || requester_node >= rt->node_count() || offset > SERAPH_AETHER_MAX_OFFSET) return error_response();
    return guarded(error_response(), [&] {
        static thread_local std::byte page[page_size];
        home_request req;
        req.op = wire::msg::read_shared;
        req.requester = requester_node;
        req.address = make_addr(rt->self(), page_floor(offset));
        if (!rt->local_node().home().valid_page(page_index_of(req.address)))
            return Seraph_Aether_Response{SERAPH_AETHER_RESP_NOT_FOUND, 0, nullptr, 0};
        wire::message o = rt->local_node().serve_local(std::move(req), rt->op_deadline(), page);
        publish_stats(aether, *rt);
        if (!o.ok() || o.payload.empty()) return Seraph_Aether_Response{response_status(o.error()), 0, nullptr, 0};
        return Seraph_Aether_Response{SERAPH_AETHER_RESP_OK, o.arg0, page, page_size};
    });
}

Seraph_Aether_Response seraph_aether_handle_write_request(Seraph_Aether* aether, uint16_t requester_node, uint64_t offset,
                                                          const void* data, size_t size) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || requester_node >= rt->node_count() || data == nullptr || size == 0 ||
        offset > SERAPH_AETHER_MAX_OFFSET || size - 1 > SERAPH_AETHER_MAX_OFFSET - offset)
        return error_response();
    return guarded(error_response(), [&] {
        const auto* in = static_cast<const std::byte*>(data);
        std::uint64_t addr = make_addr(rt->self(), offset);
        std::uint64_t generation = 0;
        while (size > 0) {
            std::size_t chunk = std::min<std::size_t>(size, page_floor(addr) + page_size - addr);
            if (!rt->local_node().home().valid_page(page_index_of(addr)))
                return Seraph_Aether_Response{SERAPH_AETHER_RESP_NOT_FOUND, 0, nullptr, 0};
            home_request req;
            req.op = wire::msg::write_bytes;
            req.requester = requester_node;
            req.address = addr;
            req.data.assign(in, in + chunk);
            wire::message o = rt->local_node().serve_local(std::move(req), rt->op_deadline());
            if (!o.ok()) return Seraph_Aether_Response{response_status(o.error()), 0, nullptr, 0};
            generation = o.arg0;
            addr += chunk;
            in += chunk;
            size -= chunk;
        }
        publish_stats(aether, *rt);
        return Seraph_Aether_Response{SERAPH_AETHER_RESP_OK, generation, nullptr, 0};
    });
}

void seraph_aether_handle_invalidate(Seraph_Aether* aether, uint64_t addr, uint64_t new_generation) {
    (void)new_generation;
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || !valid_address(*rt, addr, 1)) return;
    guarded(0, [&] {
        bump(rt->counters().invalidations_received);
        (void)rt->drop_copy(page_floor(addr)); // an exclusive copy is written back first
        publish_stats(aether, *rt);
        return 0;
    });
}

void seraph_aether_broadcast_invalidation(Seraph_Aether* aether, uint64_t offset, uint64_t new_generation) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || offset > SERAPH_AETHER_MAX_OFFSET) return;
    guarded(0, [&] {
        home_request req;
        req.op = wire::msg::invalidate;
        req.requester = rt->self();
        req.address = make_addr(rt->self(), page_floor(offset));
        req.arg0 = new_generation;
        const std::uint64_t page = req.address;
        if (rt->local_node().home().valid_page(page_index_of(page))) {
            wire::message o = rt->local_node().serve_local(std::move(req), rt->op_deadline());
            if (!o.ok()) set_void_context(o.reason, page);
        }
        publish_stats(aether, *rt);
        return 0;
    });
}

Seraph_Aether_Directory_Entry* seraph_aether_get_directory_entry(Seraph_Aether* aether, uint16_t node_id, uint64_t offset) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr || node_id >= rt->node_count() || offset > SERAPH_AETHER_MAX_OFFSET) return nullptr;
    return guarded(static_cast<Seraph_Aether_Directory_Entry*>(nullptr), [&]() -> Seraph_Aether_Directory_Entry* {
        node* n = node_id == rt->self() ? &rt->local_node() : rt->sim_node(node_id);
        if (n == nullptr) return nullptr; // only pages homed in this process have an entry here
        const std::uint32_t index = static_cast<std::uint32_t>(offset / page_size);
        auto snap = n->snapshot(index);
        if (!snap.valid) return nullptr;
        std::lock_guard lock(aether->runtime->exports_mu);
        auto& slot = aether->runtime->directory_exports[{node_id, index}];
        if (!slot) slot = std::make_unique<Seraph_Aether_Directory_Entry>();
        Seraph_Aether_Directory_Entry& e = *slot;
        std::memset(&e, 0, sizeof e);
        e.offset = std::uint64_t{index} * page_size;
        e.state = snap.state == dir_state::shared      ? SERAPH_AETHER_PAGE_SHARED
                  : snap.state == dir_state::exclusive ? SERAPH_AETHER_PAGE_EXCLUSIVE
                                                       : SERAPH_AETHER_PAGE_INVALID;
        e.exclusive_owner = snap.state == dir_state::exclusive ? snap.owner : SERAPH_VOID_U16;
        for (aether::node_id s : snap.sharers)
            if (e.sharer_count < SERAPH_AETHER_MAX_SHARERS) e.sharers[e.sharer_count++] = s;
        e.generation = snap.generation;
        e.valid = snap.allocated;
        return &e;
    });
}

void seraph_aether_directory_add_sharer(Seraph_Aether_Directory_Entry* entry, uint16_t node_id) {
    if (entry == nullptr || entry->sharer_count > SERAPH_AETHER_MAX_SHARERS) return;
    for (uint16_t i = 0; i < entry->sharer_count; ++i)
        if (entry->sharers[i] == node_id) return;
    if (entry->sharer_count == SERAPH_AETHER_MAX_SHARERS) return;
    entry->sharers[entry->sharer_count++] = node_id;
    if (entry->state == SERAPH_AETHER_PAGE_INVALID) entry->state = SERAPH_AETHER_PAGE_SHARED;
}

void seraph_aether_directory_remove_sharer(Seraph_Aether_Directory_Entry* entry, uint16_t node_id) {
    if (entry == nullptr || entry->sharer_count > SERAPH_AETHER_MAX_SHARERS) return;
    for (uint16_t i = 0; i < entry->sharer_count; ++i) {
        if (entry->sharers[i] != node_id) continue;
        entry->sharers[i] = entry->sharers[--entry->sharer_count];
        if (entry->sharer_count == 0 && entry->state == SERAPH_AETHER_PAGE_SHARED) entry->state = SERAPH_AETHER_PAGE_INVALID;
        return;
    }
}

// ---- VOID context and names -----------------------------------------------------------------------

Seraph_Aether_Void_Reason seraph_aether_get_void_reason(void) {
    return static_cast<Seraph_Aether_Void_Reason>(current_void_context().reason);
}

uint64_t seraph_aether_get_void_addr(void) { return current_void_context().addr; }

void seraph_aether_clear_void_context(void) { clear_void_context(); }

const char* seraph_aether_void_reason_name(Seraph_Aether_Void_Reason reason) {
    const unsigned raw = raw_value(reason);
    if (raw > SERAPH_AETHER_VOID_CORRUPTION) return "UNKNOWN";
    return to_string(static_cast<void_reason>(raw));
}

const char* seraph_aether_fetch_status_name(Seraph_Aether_Fetch_Status status) {
    const unsigned raw = raw_value(status);
    if (raw > SERAPH_AETHER_TCP_ERROR) return "UNKNOWN";
    return to_string(static_cast<fetch_status>(raw));
}

// ---- statistics -------------------------------------------------------------------------------------

void seraph_aether_get_stats(const Seraph_Aether* aether, uint64_t* cache_hits, uint64_t* cache_misses, uint64_t* remote_fetches,
                             uint64_t* invalidations_sent, uint64_t* invalidations_received) {
    runtime* rt = runtime_of(aether);
    auto get = [rt](std::atomic<std::uint64_t> node_counters::*field) -> std::uint64_t {
        return rt != nullptr ? (rt->counters().*field).load(std::memory_order_relaxed) : 0;
    };
    if (cache_hits) *cache_hits = get(&node_counters::cache_hits);
    if (cache_misses) *cache_misses = get(&node_counters::cache_misses);
    if (remote_fetches) *remote_fetches = get(&node_counters::remote_fetches);
    if (invalidations_sent) *invalidations_sent = get(&node_counters::invalidations_sent);
    if (invalidations_received) *invalidations_received = get(&node_counters::invalidations_received);
}

void seraph_aether_reset_stats(Seraph_Aether* aether) {
    runtime* rt = runtime_of(aether);
    if (rt == nullptr) return;
    rt->counters().reset();
    publish_stats(aether, *rt);
}

} // extern "C"
