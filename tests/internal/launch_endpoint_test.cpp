// Tests of what a node launched by a PMIx server publishes and which address of a peer it dials
// (runtime/launch/endpoint.hpp). No process manager: the addresses are given.
#include <catch2/catch.hpp>

#include "runtime/launch/endpoint.hpp"

using namespace aether::launch;

namespace {

constexpr std::uint32_t ip(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d;
}

} // namespace

TEST_CASE("an endpoint survives encoding, and decode accepts nothing else", "[launch]") {
    const endpoint e{7000, {{ip(10, 77, 0, 2), 24}, {ip(192, 168, 1, 5), 16}}};
    CHECK(encode(e) == "7000;10.77.0.2/24,192.168.1.5/16");
    CHECK(decode(encode(e)) == e);
    const endpoint loopback_only{41000, {}};
    CHECK(decode(encode(loopback_only)) == loopback_only);
    for (const char* bad : {"", "7000", ";10.0.0.1/8", "0;10.0.0.1/8", "70000;10.0.0.1/8", "7000;10.0.0.1", "7000;10.0.0.1/33",
                            "7000;10.0.0.256/8", "7000;10.0.0.1/8,", "7000;10.0.0.1/8,,10.0.0.2/8", "x7000;", "7000;host/8"}) {
        INFO(bad);
        CHECK_FALSE(decode(bad));
    }
}

TEST_CASE("a peer's address is chosen by host, then by shared subnet, then by its order", "[launch]") {
    const endpoint peer{7001, {{ip(192, 168, 1, 5), 24}, {ip(10, 77, 0, 2), 24}}};
    // On the same host: loopback, whatever it published.
    CHECK(dial_address(peer, true, {}) == "127.0.0.1:7001");
    // Another host with a leg in one of its subnets: that address, though published second.
    CHECK(dial_address(peer, false, {{ip(10, 77, 0, 1), 24}}) == "10.77.0.2:7001");
    // Same network number but another prefix length is another subnet.
    CHECK(dial_address(peer, false, {{ip(10, 77, 0, 1), 16}}) == "192.168.1.5:7001");
    // No subnet in common: its first address (a route must lead there).
    CHECK(dial_address(peer, false, {{ip(172, 16, 0, 1), 12}}) == "192.168.1.5:7001");
    // Another host that published no address cannot be dialled.
    CHECK_FALSE(dial_address(endpoint{7002, {}}, false, {{ip(10, 77, 0, 1), 24}}));
}
