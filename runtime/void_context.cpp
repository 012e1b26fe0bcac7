// Thread-local VOID context.
#include "runtime/void_context.hpp"

namespace aether {

namespace {
thread_local void_context tl_context;
} // namespace

void set_void_context(void_reason reason, std::uint64_t addr) noexcept { tl_context = {reason, addr}; }
void_context current_void_context() noexcept { return tl_context; }
void clear_void_context() noexcept { tl_context = {}; }

} // namespace aether
