// The thread's VOID context: the reason and the address of the last operation that yielded VOID.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/result.hpp"

#include <cstdint>

namespace aether {

struct void_context {
    void_reason reason = void_reason::none;
    std::uint64_t addr = 0;
};

void set_void_context(void_reason reason, std::uint64_t addr) noexcept;
void_context current_void_context() noexcept;
void clear_void_context() noexcept;

} // namespace aether
