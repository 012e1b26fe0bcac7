// io_uring probe: what this machine's kernel offers the TCP transport.
#include "transport/uring_probe.hpp"

#include "fd_count.hpp"
#include "text.hpp"

#include <catch2/catch.hpp>
#include <liburing.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace {

const aether::uring_opcode_support* find_op(const aether::uring_capabilities& c, const std::string& name) {
    for (const auto& op : c.opcodes)
        if (op.name == name) return &op;
    return nullptr;
}

} // namespace

TEST_CASE("probe_uring finds what the TCP transport needs on this machine", "[uring]") {
    auto start = std::chrono::steady_clock::now();
    aether::uring_capabilities c = aether::probe_uring();
    REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

    REQUIRE(c.ring_created);
    REQUIRE(c.ring_error == 0);
    REQUIRE((c.features & IORING_FEAT_NODROP) != 0);
    REQUIRE(c.io_uring_disabled_sysctl == 0);
    REQUIRE(c.single_issuer_defer_taskrun);
    REQUIRE(c.multishot_accept);

    for (const char* name : {"ACCEPT", "RECV", "SEND", "SENDMSG", "RECVMSG", "CONNECT", "READ", "ASYNC_CANCEL"}) {
        const auto* op = find_op(c, name);
        INFO(name);
        REQUIRE(op != nullptr);
        REQUIRE(op->required);
        REQUIRE(op->supported);
    }
    for (const char* name : {"POLL_ADD", "LINK_TIMEOUT", "SEND_ZC", "MSG_RING", "SHUTDOWN", "PROVIDE_BUFFERS"}) {
        const auto* op = find_op(c, name);
        INFO(name);
        REQUIRE(op != nullptr);
        REQUIRE_FALSE(op->required);
    }
    REQUIRE(aether::missing_for_transport(c).empty());
}

TEST_CASE("probe_uring agrees with liburing's own opcode probe", "[uring]") {
    aether::uring_capabilities c = aether::probe_uring();
    io_uring_probe* probe = io_uring_get_probe();
    REQUIRE(probe != nullptr);
    REQUIRE(find_op(c, "SEND_ZC")->supported == (io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0));
    REQUIRE(find_op(c, "MSG_RING")->supported == (io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0));
    io_uring_free_probe(probe);
}

TEST_CASE("probe_uring closes every descriptor it opens", "[uring]") {
    int before = open_fd_count();
    REQUIRE(before >= 0);
    (void)aether::probe_uring();
    (void)aether::probe_uring();
    REQUIRE(open_fd_count() == before);
}

TEST_CASE("missing_for_transport explains what is absent", "[uring]") {
    SECTION("an empty capabilities struct: no ring") {
        aether::uring_capabilities c;
        auto missing = aether::missing_for_transport(c);
        REQUIRE(missing.size() == 1);
        REQUIRE(contains(missing, "cannot be created"));
    }
    SECTION("disabled by sysctl") {
        aether::uring_capabilities c;
        c.ring_error = -EPERM;
        c.io_uring_disabled_sysctl = 2;
        auto missing = aether::missing_for_transport(c);
        REQUIRE(missing.size() == 1);
        REQUIRE(contains(missing, "kernel.io_uring_disabled=2"));
        c.io_uring_disabled_sysctl = 1;
        REQUIRE(contains(aether::missing_for_transport(c), "kernel.io_uring_group"));
    }
    SECTION("setup error text") {
        aether::uring_capabilities c;
        c.ring_error = -ENOSYS;
        c.io_uring_disabled_sysctl = -1;
        REQUIRE(contains(aether::missing_for_transport(c), "CONFIG_IO_URING"));
    }
    SECTION("a ring without some opcodes and without multishot accept") {
        aether::uring_capabilities c = aether::probe_uring();
        REQUIRE(c.ring_created);
        for (auto& op : c.opcodes) {
            if (op.name == "SENDMSG" || op.name == "SEND_ZC") op.supported = false;
        }
        c.multishot_accept = false;
        auto missing = aether::missing_for_transport(c);
        REQUIRE(missing.size() == 2);
        REQUIRE(contains(missing, "IORING_OP_SENDMSG"));
        REQUIRE_FALSE(contains(missing, "SEND_ZC")); // optional
        REQUIRE(contains(missing, "multishot accept"));
    }
}

TEST_CASE("uring_feature_names", "[uring]") {
    REQUIRE(aether::uring_feature_names(0).empty());
    REQUIRE(aether::uring_feature_names(IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP) == "SINGLE_MMAP|NODROP");
    REQUIRE(aether::uring_feature_names(1u << 17) == "NO_IOWAIT");
    REQUIRE(aether::uring_feature_names(1u << 30) == "0x40000000");
}
