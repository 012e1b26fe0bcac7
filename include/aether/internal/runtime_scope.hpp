// runtime_scope: marks code of the runtime on this thread. When the process's malloc is served
// from Aether memory (libaether_preload.so, AETHER_HEAP=1), allocations made inside the runtime
// still come from the C library: the runtime must never keep its own state in memory that can
// fault, nor wait on the Aether heap's lock while a fault it must serve holds it.
#pragma once
#include "aether/internal/guard.hpp"

namespace aether {

// Initial-exec TLS: reading it from malloc never allocates.
inline thread_local unsigned tl_runtime_depth __attribute__((tls_model("initial-exec"))) = 0;

class runtime_scope {
public:
    runtime_scope() noexcept { ++tl_runtime_depth; }
    ~runtime_scope() { --tl_runtime_depth; }
    runtime_scope(const runtime_scope&) = delete;
    runtime_scope& operator=(const runtime_scope&) = delete;
};

inline bool in_runtime() noexcept { return tl_runtime_depth != 0; }

} // namespace aether
