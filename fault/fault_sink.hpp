// fault_sink: what the fault path asks of the layer above it. fault/ reports a fault on a window
// page; runtime/ implements this interface and makes the page usable (or VOID).
#pragma once
#include "aether/internal/guard.hpp"

#include <sys/types.h>

#include <cstdint>

namespace aether::fault {

struct fault_event {
    std::uint64_t address = 0; // faulting address (any byte in the page)
    bool write = false;        // a store (to a missing page, or to a write-protected copy)
    pid_t tid = 0;             // the faulting thread
};

enum class fault_outcome : std::uint8_t {
    resolved,     // the page is present as needed: the access retries and succeeds
    void_page,    // a read that cannot be served: the 0xFF page is installed (the load yields VOID)
    raise_sigbus, // a store that cannot be served: the storing thread gets SIGBUS
};

class fault_sink {
public:
    virtual ~fault_sink() = default;
    // Makes the page usable for the access, or decides the VOID outcome. Runs on the handler thread
    // (handler mode) or inside the faulting thread's SIGBUS handler (sigbus mode); it never blocks
    // beyond the runtime's deadline and never touches a window page that is not present.
    virtual fault_outcome resolve(const fault_event& e) noexcept = 0;
    // Handler mode: work the handler thread does while no fault waits (readahead running ahead of
    // a scan). One short step per call; true if there is more. A fault that arrives meanwhile
    // waits for the step to end, so a step must stay short (a batch of pages, not a wait).
    virtual bool background() noexcept { return false; }
};

} // namespace aether::fault
