// Run-time probe of io_uring: ring set-up, the opcodes the TCP transport issues, multishot accept.
#include "transport/uring_probe.hpp"

#include "aether/internal/bit_names.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/fd.hpp"
#include "aether/internal/sysctl.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace aether {
namespace {

struct opcode_entry {
    const char* name;
    int op;
    bool required;
};

// Required: what the event loop and the synchronous client issue. Optional: what they may use
// when the kernel has it.
constexpr std::array<opcode_entry, 14> transport_opcodes = {{
    {"ACCEPT", IORING_OP_ACCEPT, true},
    {"RECV", IORING_OP_RECV, true},
    {"SEND", IORING_OP_SEND, true},
    {"SENDMSG", IORING_OP_SENDMSG, true},
    {"RECVMSG", IORING_OP_RECVMSG, true},
    {"CONNECT", IORING_OP_CONNECT, true},
    {"READ", IORING_OP_READ, true},
    {"ASYNC_CANCEL", IORING_OP_ASYNC_CANCEL, true},
    {"POLL_ADD", IORING_OP_POLL_ADD, false},
    {"LINK_TIMEOUT", IORING_OP_LINK_TIMEOUT, false},
    {"SEND_ZC", IORING_OP_SEND_ZC, false},
    {"MSG_RING", IORING_OP_MSG_RING, false},
    {"SHUTDOWN", IORING_OP_SHUTDOWN, false},
    {"PROVIDE_BUFFERS", IORING_OP_PROVIDE_BUFFERS, false},
}};

// IORING_FEAT_* bits; 13..17 are newer than liburing 2.3's header.
constexpr std::array<bit_name, 18> feature_bits = {{
    {IORING_FEAT_SINGLE_MMAP, "SINGLE_MMAP"},
    {IORING_FEAT_NODROP, "NODROP"},
    {IORING_FEAT_SUBMIT_STABLE, "SUBMIT_STABLE"},
    {IORING_FEAT_RW_CUR_POS, "RW_CUR_POS"},
    {IORING_FEAT_CUR_PERSONALITY, "CUR_PERSONALITY"},
    {IORING_FEAT_FAST_POLL, "FAST_POLL"},
    {IORING_FEAT_POLL_32BITS, "POLL_32BITS"},
    {IORING_FEAT_SQPOLL_NONFIXED, "SQPOLL_NONFIXED"},
    {IORING_FEAT_EXT_ARG, "EXT_ARG"},
    {IORING_FEAT_NATIVE_WORKERS, "NATIVE_WORKERS"},
    {IORING_FEAT_RSRC_TAGS, "RSRC_TAGS"},
    {IORING_FEAT_CQE_SKIP, "CQE_SKIP"},
    {IORING_FEAT_LINKED_FILE, "LINKED_FILE"},
    {1u << 13, "REG_REG_RING"},
    {1u << 14, "RECVSEND_BUNDLE"},
    {1u << 15, "MIN_TIMEOUT"},
    {1u << 16, "RW_ATTR"},
    {1u << 17, "NO_IOWAIT"},
}};
static_assert(single_distinct_bits(feature_bits));

constexpr std::uint64_t accept_tag = 1;
constexpr std::uint64_t cancel_tag = 2;
constexpr milliseconds multishot_wait{2000};

bool single_issuer_defer_taskrun_accepted() noexcept {
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(8, &ring, &p) < 0) return false;
    io_uring_queue_exit(&ring);
    return true;
}

// Waits for one CQE until `dl`; false on timeout or error. (Not io_ring::wait_for: the probe's ring
// is the plain one whose features it reports, and the multishot accept needs each CQE's flags and
// result, to see IORING_CQE_F_MORE and close every accepted socket; wait_for drops them.)
bool next_cqe(io_uring& ring, deadline dl, io_uring_cqe*& cqe) noexcept {
    if (dl.expired()) return false;
    __kernel_timespec ts = dl.remaining_timespec();
    for (;;) {
        int rc = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
        if (rc == -EINTR) continue;
        return rc == 0;
    }
}

// Arms a multishot accept on a loopback listener, connects once, and expects a CQE carrying a
// socket together with IORING_CQE_F_MORE: a kernel that ignored the multishot flag would still
// accept once, but without F_MORE. Every wait is bounded, so a misbehaving kernel cannot hang us.
bool multishot_accept_works(io_uring& ring) noexcept {
    unique_fd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!listener) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t addr_len = sizeof addr;
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listener.get(), 4) < 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &addr_len) < 0)
        return false;

    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe == nullptr) return false;
    io_uring_prep_multishot_accept(sqe, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, accept_tag);
    if (io_uring_submit(&ring) < 1) return false;

    bool works = false;
    bool armed = true; // the accept request may still post CQEs
    unique_fd client{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    bool connecting =
        client && (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EINPROGRESS);

    deadline until = deadline::after(multishot_wait);
    io_uring_cqe* cqe = nullptr;
    while (connecting && armed && !works && next_cqe(ring, until, cqe)) {
        if (io_uring_cqe_get_data64(cqe) == accept_tag) {
            if (cqe->res >= 0) {
                ::close(cqe->res);
                works = (cqe->flags & IORING_CQE_F_MORE) != 0;
            }
            armed = (cqe->flags & IORING_CQE_F_MORE) != 0;
        }
        io_uring_cqe_seen(&ring, cqe);
    }

    if (armed) {
        sqe = io_uring_get_sqe(&ring);
        if (sqe != nullptr) {
            io_uring_prep_cancel64(sqe, accept_tag, 0);
            io_uring_sqe_set_data64(sqe, cancel_tag);
            io_uring_submit(&ring);
        }
        // Drain until the accept reports its end; whatever is left is torn down with the ring.
        until = deadline::after(multishot_wait);
        while (armed && next_cqe(ring, until, cqe)) {
            if (io_uring_cqe_get_data64(cqe) == accept_tag) {
                if (cqe->res >= 0) ::close(cqe->res);
                armed = (cqe->flags & IORING_CQE_F_MORE) != 0;
            }
            io_uring_cqe_seen(&ring, cqe);
        }
    }
    return works;
}

} // namespace

uring_capabilities probe_uring() noexcept {
    uring_capabilities c;
    c.io_uring_disabled_sysctl = read_sysctl("/proc/sys/kernel/io_uring_disabled");
    for (const opcode_entry& e : transport_opcodes) c.opcodes.push_back({e.name, false, e.required});

    io_uring ring;
    io_uring_params params{};
    int rc = io_uring_queue_init_params(8, &ring, &params);
    if (rc < 0) {
        c.ring_error = rc;
        return c;
    }
    c.ring_created = true;
    c.features = params.features;

    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
        for (std::size_t i = 0; i < transport_opcodes.size(); ++i)
            c.opcodes[i].supported = io_uring_opcode_supported(probe, transport_opcodes[i].op) != 0;
        io_uring_free_probe(probe);
    }
    c.single_issuer_defer_taskrun = single_issuer_defer_taskrun_accepted();
    c.multishot_accept = multishot_accept_works(ring);
    io_uring_queue_exit(&ring);
    return c;
}

std::vector<std::string> missing_for_transport(const uring_capabilities& c) {
    std::vector<std::string> out;
    if (!c.ring_created) {
        int err = -c.ring_error;
        if (c.io_uring_disabled_sysctl == 2) {
            out.emplace_back("io_uring is disabled for every process by kernel.io_uring_disabled=2: "
                             "set it to 0");
        } else if (c.io_uring_disabled_sysctl == 1 && (err == EPERM || err == 0)) {
            out.emplace_back("io_uring is disabled for processes outside kernel.io_uring_group "
                             "(kernel.io_uring_disabled=1): set it to 0 or add this user to that group");
        } else {
            std::string s = "an io_uring ring cannot be created";
            if (err != 0) s += std::string(" (io_uring_setup: ") + std::strerror(err) + ")";
            if (err == ENOSYS)
                s += ": the kernel is built without CONFIG_IO_URING";
            else if (err == EPERM)
                s += ": io_uring is blocked, e.g. by seccomp or a container runtime";
            out.push_back(std::move(s));
        }
        // Opcodes and multishot accept were never tried, so they are not reported as missing.
        return out;
    }
    for (const uring_opcode_support& op : c.opcodes)
        if (op.required && !op.supported)
            out.push_back("io_uring lacks IORING_OP_" + op.name + ", which the TCP transport issues (kernel too old)");
    if (!c.multishot_accept)
        out.emplace_back("io_uring multishot accept (IORING_ACCEPT_MULTISHOT, Linux 5.19+) did not "
                         "work on a loopback listener; the TCP transport's listener relies on it");
    return out;
}

std::string uring_feature_names(std::uint32_t features) { return bit_names(features, feature_bits); }

} // namespace aether
