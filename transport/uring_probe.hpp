// What the kernel's io_uring offers, probed at run time (used at start-up and by `aetherctl probe`).
#pragma once
#include "aether/internal/guard.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace aether {

struct uring_opcode_support {
    std::string name; // e.g. "SENDMSG"
    bool supported = false;
    bool required = false; // the TCP transport cannot run without it
};

struct uring_capabilities {
    int io_uring_disabled_sysctl = -1;        // kernel.io_uring_disabled (-1: unreadable)
    bool ring_created = false;                // a plain ring could be set up
    int ring_error = 0;                       // -errno when it could not
    bool single_issuer_defer_taskrun = false; // IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN accepted
    std::uint32_t features = 0;               // IORING_FEAT_* of the plain ring
    std::vector<uring_opcode_support> opcodes;
    bool multishot_accept = false; // accepted by the kernel (tried on a listening socket)
};

uring_capabilities probe_uring() noexcept;
std::vector<std::string> missing_for_transport(const uring_capabilities& c);

// "SINGLE_MMAP|NODROP|..." for an IORING_FEAT_* mask; unknown bits as hex.
std::string uring_feature_names(std::uint32_t features);

} // namespace aether
