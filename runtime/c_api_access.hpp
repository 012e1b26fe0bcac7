// The runtime behind a C handle, for the project's own tools and tests (aether-bench, aetherctl):
// they measure and inspect what the C API hides. Not installed.
#pragma once
#include "aether/internal/guard.hpp"

#include <seraph/aether.h>

namespace aether {

class runtime;
// The runtime of an initialized handle, or nullptr.
runtime* runtime_of_handle(const Seraph_Aether* handle) noexcept;

} // namespace aether
