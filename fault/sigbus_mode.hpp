// sigbus_mode: the opt-in in-thread fault mode (UFFD_FEATURE_SIGBUS). A fault on a missing or
// write-protected window page raises SIGBUS in the faulting thread, whose handler resolves it and
// returns, so the access retries: no hand-off to another thread. Faults raised inside system calls
// are not served in this mode (they fail with EFAULT), so it suits programs that do not hand
// Aether memory to the kernel.
#pragma once
#include "aether/internal/guard.hpp"

#include "fault/fault_sink.hpp"
#include "fault/window.hpp"

#include <string>

namespace aether::fault {

// Installs the process's SIGBUS handler for `w` (one window at a time). Signals that are not
// window faults go to the handler that was installed before, or get what its disposition says: a
// SIGBUS sent by a process is dropped if it was ignored and ends the process under the default
// action; a bus error the kernel raised ends the process either way, as it would without Aether.
setup_result<void> install_sigbus_mode(window& w, fault_sink& sink);
void uninstall_sigbus_mode() noexcept;

} // namespace aether::fault
