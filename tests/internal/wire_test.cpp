// Unit tests of the wire format: header construction, validation and payload checksums.
#include <catch2/catch.hpp>

#include "transport/wire.hpp"

#include "test_bytes.hpp"

#include <xxhash.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace aether;
using namespace aether::wire;
using aether::test::random_bytes;

namespace {

// Every field set to a distinct, non-default value so a field that is dropped or swapped shows.
message sample_message(std::span<const std::byte> payload) {
    message m;
    m.type = msg::compare_swap;
    m.flags = flag::reply | flag::downgrade;
    m.address = 0x0000400012345000ull;
    m.arg0 = 0x1111222233334444ull;
    m.arg1 = 0x5555666677778888ull;
    m.epoch = 0xA1B2C3D4u;
    m.status = fetch_status::generation;
    m.reason = void_reason::corruption;
    m.payload = payload;
    return m;
}

} // namespace

TEST_CASE("make_header fills every field and both checksums", "[wire]") {
    auto payload = random_bytes(777, 1);
    frame_header h = make_header(sample_message(payload), 0x0123, 0xDEADBEEFCAFEF00Dull);

    CHECK(h.magic == frame_magic);
    CHECK(h.version == protocol_version);
    CHECK(h.type == static_cast<std::uint8_t>(msg::compare_swap));
    CHECK(type_of(h) == msg::compare_swap);
    CHECK(h.flags == (flag::reply | flag::downgrade));
    CHECK(is_reply(h));
    CHECK(h.request_id == 0xDEADBEEFCAFEF00Dull);
    CHECK(h.address == 0x0000400012345000ull);
    CHECK(h.arg0 == 0x1111222233334444ull);
    CHECK(h.arg1 == 0x5555666677778888ull);
    CHECK(h.source == 0x0123);
    CHECK(h.status == static_cast<std::uint8_t>(fetch_status::generation));
    CHECK(h.reason == static_cast<std::uint8_t>(void_reason::corruption));
    CHECK(h.payload_length == 777);
    CHECK(h.epoch == 0xA1B2C3D4u);
    CHECK(h.payload_checksum == payload_checksum(payload));
    CHECK(h.payload_checksum != 0);

    // The header checksum is the one seal() computes, and is not left at zero.
    frame_header resealed = h;
    resealed.header_checksum = 0;
    seal(resealed);
    CHECK(resealed.header_checksum == h.header_checksum);
    CHECK(h.header_checksum != 0);
    CHECK(check_header(h) == header_check::ok);
    CHECK(payload_ok(h, payload));
}

TEST_CASE("a reply flag of zero is not a reply", "[wire]") {
    message m;
    m.type = msg::ping;
    frame_header h = make_header(m, 3, 9);
    CHECK_FALSE(is_reply(h));
    CHECK(h.payload_length == 0);
    CHECK(h.payload_checksum == 0);
    CHECK(check_header(h) == header_check::ok);
}

TEST_CASE("any single damaged bit of a header fails its checksum", "[wire]") {
    auto payload = random_bytes(100, 2);
    const frame_header good = make_header(sample_message(payload), 7, 42);
    REQUIRE(check_header(good) == header_check::ok);

    for (std::size_t pos = 0; pos < header_size; ++pos) {
        for (int bit = 0; bit < 8; ++bit) {
            frame_header h = good;
            auto* raw = reinterpret_cast<unsigned char*>(&h);
            raw[pos] ^= static_cast<unsigned char>(1u << bit);
            INFO("byte " << pos << " bit " << bit);
            // The checksum is tested first, so whatever field was hit the verdict is the checksum's.
            CHECK(check_header(h) == header_check::bad_checksum);
        }
        frame_header h = good;
        reinterpret_cast<unsigned char*>(&h)[pos] ^= 0xFF;
        INFO("byte " << pos << " inverted");
        CHECK(check_header(h) == header_check::bad_checksum);
    }
}

TEST_CASE("a sealed header with a bad field reports that field", "[wire]") {
    message m;
    m.type = msg::read_shared;
    const frame_header good = make_header(m, 1, 2);

    SECTION("magic") {
        frame_header h = good;
        h.magic = 0x48544542;
        seal(h);
        CHECK(check_header(h) == header_check::bad_magic);
    }
    SECTION("version") {
        frame_header h = good;
        h.version = protocol_version + 1;
        seal(h);
        CHECK(check_header(h) == header_check::bad_version);
        h.version = 0;
        seal(h);
        CHECK(check_header(h) == header_check::bad_version);
    }
    SECTION("type 0") {
        frame_header h = good;
        h.type = 0;
        seal(h);
        CHECK(check_header(h) == header_check::bad_type);
    }
    SECTION("type beyond the last") {
        frame_header h = good;
        h.type = static_cast<std::uint8_t>(msg::last_) + 1;
        seal(h);
        CHECK(check_header(h) == header_check::bad_type);
        h.type = 0xFF;
        seal(h);
        CHECK(check_header(h) == header_check::bad_type);
    }
    SECTION("every defined type is accepted") {
        for (auto t = static_cast<unsigned>(msg::hello); t <= static_cast<unsigned>(msg::last_); ++t) {
            frame_header h = good;
            h.type = static_cast<std::uint8_t>(t);
            seal(h);
            INFO("type " << t);
            CHECK(check_header(h) == header_check::ok);
        }
    }
    SECTION("payload length") {
        frame_header h = good;
        h.payload_length = max_payload;
        seal(h);
        CHECK(check_header(h) == header_check::ok);
        h.payload_length = max_payload + 1;
        seal(h);
        CHECK(check_header(h) == header_check::bad_length);
        h.payload_length = 0xFFFFFFFFu;
        seal(h);
        CHECK(check_header(h) == header_check::bad_length);
    }
    SECTION("an unsealed change is a checksum failure, not a field failure") {
        frame_header h = good;
        h.magic = 0;
        CHECK(check_header(h) == header_check::bad_checksum);
    }
}

TEST_CASE("header_check values have distinct descriptions", "[wire]") {
    std::set<std::string> seen;
    for (auto c : {header_check::ok, header_check::bad_magic, header_check::bad_version, header_check::bad_type,
                   header_check::bad_length, header_check::bad_checksum}) {
        std::string s = to_string(c);
        CHECK(s != "?");
        CHECK(seen.insert(s).second);
    }
}

TEST_CASE("payload_ok detects damaged and truncated payloads", "[wire]") {
    auto payload = random_bytes(4096, 3);
    const frame_header h = make_header(sample_message(payload), 1, 1);
    REQUIRE(payload_ok(h, payload));

    SECTION("a single flipped bit anywhere") {
        std::mt19937_64 rng(4);
        for (int i = 0; i < 200; ++i) {
            auto damaged = payload;
            std::size_t bit = rng() % (damaged.size() * 8);
            damaged[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
            INFO("bit " << bit);
            CHECK_FALSE(payload_ok(h, damaged));
        }
    }
    SECTION("length mismatch") {
        CHECK_FALSE(payload_ok(h, std::span<const std::byte>(payload).first(payload.size() - 1)));
        auto longer = payload;
        longer.push_back(std::byte{0});
        CHECK_FALSE(payload_ok(h, longer));
        CHECK_FALSE(payload_ok(h, {}));
    }
    SECTION("a header for an empty payload accepts only an empty payload") {
        message m;
        frame_header e = make_header(m, 1, 1);
        CHECK(payload_ok(e, {}));
        CHECK_FALSE(payload_ok(e, std::span<const std::byte>(payload).first(1)));
    }
}

TEST_CASE("payload checksums", "[wire]") {
    CHECK(payload_checksum({}) == 0);
    auto a = random_bytes(64, 5);
    auto b = a;
    CHECK(payload_checksum(a) == payload_checksum(b));
    b[63] ^= std::byte{0x80};
    CHECK(payload_checksum(a) != payload_checksum(b));
    // A one-byte zero payload is not the empty payload.
    std::byte zero{0};
    CHECK(payload_checksum(std::span<const std::byte>(&zero, 1)) != 0);
}

TEST_CASE("the payload checksum is XXH3-64 whichever vector unit computes it", "[wire]") {
    // The checksum may be computed by a CPU-specific implementation (AVX2 where there is one); a
    // node on another CPU computes it with another. Every length class XXH3 treats differently,
    // and the readahead batch size, against the library's portable entry point.
    for (std::size_t n : {1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 4096, 4097, 65543, 256 * 1024 + 4 * 24}) {
        auto data = random_bytes(n, n);
        INFO("length " << n);
        CHECK(payload_checksum(data) == XXH3_64bits(data.data(), data.size()));
    }
}

TEST_CASE("a payload sent in two parts is checked as the one payload the receiver sees", "[wire]") {
    // A readahead reply goes out as the home's pages followed by their grants; the requester
    // receives and checks them as one contiguous payload.
    for (std::size_t split : {0, 1, 64, 4096, 256 * 1024}) {
        auto whole = random_bytes(256 * 1024 + 64 * 24, 11);
        std::span<const std::byte> all(whole);
        auto head = all.first(split), tail = all.subspan(split);
        INFO("split at " << split);
        CHECK(payload_checksum(head, tail) == payload_checksum(all));
        message m{.type = msg::read_shared, .flags = flag::reply, .payload = head, .payload_tail = tail};
        frame_header h = make_header(m, 1, 7);
        CHECK(h.payload_length == whole.size());
        CHECK(payload_ok(h, all));
        whole[whole.size() - 1] ^= std::byte{1}; // the last grant byte: in the tail part
        CHECK_FALSE(payload_ok(h, all));
    }
}

TEST_CASE("every message type has its own name", "[wire]") {
    std::set<std::string> names;
    for (auto t = static_cast<unsigned>(msg::hello); t <= static_cast<unsigned>(msg::last_); ++t) {
        std::string name = to_string(static_cast<msg>(t));
        INFO("type " << t << " -> " << name);
        CHECK(name != "unknown");
        CHECK_FALSE(name.empty());
        CHECK(names.insert(name).second);
    }
    CHECK(names.size() == static_cast<std::size_t>(msg::last_));
    CHECK(std::string(to_string(msg::hello)) == "hello");
    CHECK(std::string(to_string(msg::admin)) == "admin");
    CHECK(std::string(to_string(static_cast<msg>(0))) == "unknown");
    CHECK(std::string(to_string(static_cast<msg>(static_cast<unsigned>(msg::last_) + 1))) == "unknown");
}

TEST_CASE("failure_of maps the status and reason bytes", "[wire]") {
    message m;
    m.type = msg::read_shared;
    m.flags = flag::reply;
    m.status = fetch_status::permission;
    m.reason = void_reason::permission;
    frame_header h = make_header(m, 2, 5);
    failure f = failure_of(h);
    CHECK(f.status == fetch_status::permission);
    CHECK(f.reason == void_reason::permission);

    h.status = static_cast<std::uint8_t>(fetch_status::timeout);
    h.reason = static_cast<std::uint8_t>(void_reason::partition);
    CHECK(failure_of(h) == failure{fetch_status::timeout, void_reason::partition});

    h.status = 0;
    h.reason = 0;
    CHECK(failure_of(h) == failure{fetch_status::ok, void_reason::none});

    // The mapping is a plain cast of each byte, for every status and reason value.
    for (unsigned s = 0; s <= static_cast<unsigned>(fetch_status::tcp_error); ++s)
        for (unsigned r = 0; r <= static_cast<unsigned>(void_reason::corruption); ++r) {
            h.status = static_cast<std::uint8_t>(s);
            h.reason = static_cast<std::uint8_t>(r);
            failure g = failure_of(h);
            CHECK(static_cast<unsigned>(g.status) == s);
            CHECK(static_cast<unsigned>(g.reason) == r);
        }
}
