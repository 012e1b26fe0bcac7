// Unit tests of frame reassembly from an arbitrarily segmented byte stream.
#include <catch2/catch.hpp>

#include "transport/frame_reader.hpp"

#include "test_bytes.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

using namespace aether;
using namespace aether::wire;
using aether::test::random_bytes;

namespace {

struct sent_frame {
    std::uint64_t request_id;
    std::vector<std::byte> payload;
};

struct received_frame {
    frame_header header;
    std::vector<std::byte> payload;
};

void append_frame(std::vector<std::byte>& stream, const sent_frame& f) {
    message m;
    m.type = msg::write_bytes;
    m.address = f.request_id * 4096;
    m.payload = f.payload;
    frame_header h = make_header(m, 5, f.request_id);
    auto* raw = reinterpret_cast<const std::byte*>(&h);
    stream.insert(stream.end(), raw, raw + header_size);
    stream.insert(stream.end(), f.payload.begin(), f.payload.end());
}

// Feeds `data` in pieces whose sizes `chunk` chooses, draining complete frames after each piece.
// Payloads are copied out before the next writable(), which may move them.
template <class ChunkSize>
std::vector<received_frame> feed(frame_reader& r, std::span<const std::byte> data, ChunkSize chunk,
                                 frame_reader::status* last = nullptr) {
    std::vector<received_frame> out;
    std::size_t pos = 0;
    frame_reader::status st = frame_reader::status::need_more;
    while (pos < data.size()) {
        auto space = r.writable();
        // Checked without an assertion per chunk: one-byte feeding would add a million of them.
        if (space.empty()) FAIL("the reader offers no space with " << r.buffered() << " bytes buffered");
        std::size_t n = std::min({chunk(), space.size(), data.size() - pos});
        std::memcpy(space.data(), data.data() + pos, n);
        r.commit(n);
        pos += n;
        frame_view v;
        while ((st = r.next(v)) == frame_reader::status::frame)
            out.push_back({v.header, std::vector<std::byte>(v.payload.begin(), v.payload.end())});
        if (st == frame_reader::status::bad_header) break;
    }
    if (last != nullptr) *last = st;
    return out;
}

void check_same(const std::vector<sent_frame>& sent, const std::vector<received_frame>& got) {
    REQUIRE(got.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
        INFO("frame " << i);
        CHECK(got[i].header.request_id == sent[i].request_id);
        CHECK(got[i].header.address == sent[i].request_id * 4096);
        CHECK(got[i].header.payload_length == sent[i].payload.size());
        CHECK(got[i].payload == sent[i].payload);
        CHECK(payload_ok(got[i].header, got[i].payload));
    }
}

// Hands `r` just the bytes of `h` and asks for the next frame.
frame_reader::status next_after_header(frame_reader& r, const frame_header& h) {
    auto space = r.writable();
    std::memcpy(space.data(), &h, header_size);
    r.commit(header_size);
    frame_view v;
    return r.next(v);
}

} // namespace

TEST_CASE("frames survive any segmentation of the stream", "[frame_reader]") {
    std::mt19937_64 rng(0xF00D);
    std::vector<sent_frame> sent;
    for (std::uint64_t id = 1; id <= 60; ++id) sent.push_back({id, random_bytes(rng, rng() % 5000)});
    sent.push_back({61, {}});
    sent.push_back({62, random_bytes(rng, max_payload)});
    sent.push_back({63, random_bytes(rng, 1)});
    sent.push_back({64, {}});
    std::vector<std::byte> stream;
    for (const auto& f : sent) append_frame(stream, f);

    SECTION("one byte at a time") {
        frame_reader r;
        frame_reader::status last{};
        auto got = feed(
            r, stream, [] { return std::size_t{1}; }, &last);
        check_same(sent, got);
        CHECK(last == frame_reader::status::need_more);
        CHECK(r.buffered() == 0);
    }
    SECTION("random chunk sizes") {
        for (std::uint64_t seed : {1u, 2u, 3u}) {
            std::mt19937_64 chunks(seed);
            frame_reader r;
            auto got = feed(r, stream, [&] { return std::size_t{1} + chunks() % 9000; });
            INFO("seed " << seed);
            check_same(sent, got);
            CHECK(r.buffered() == 0);
        }
    }
    SECTION("small chunks around the header size") {
        std::mt19937_64 chunks(4);
        frame_reader r;
        auto got = feed(r, stream, [&] { return std::size_t{1} + chunks() % 130; });
        check_same(sent, got);
    }
    SECTION("the whole stream at once, as far as it fits") {
        frame_reader r;
        auto got = feed(r, stream, [] { return std::size_t{1} << 30; });
        check_same(sent, got);
    }
    SECTION("a reader with spare capacity compacts lazily") {
        frame_reader r(4 * (header_size + max_payload));
        std::mt19937_64 chunks(5);
        auto got = feed(r, stream, [&] { return std::size_t{1} + chunks() % 20000; });
        check_same(sent, got);
    }
}

TEST_CASE("a frame of the largest size arrives intact after many small ones", "[frame_reader]") {
    std::mt19937_64 rng(77);
    std::vector<sent_frame> sent;
    // Enough small frames that the read position travels far into the buffer before the big one.
    for (std::uint64_t id = 1; id <= 3000; ++id) sent.push_back({id, random_bytes(rng, rng() % 48)});
    sent.push_back({3001, random_bytes(rng, max_payload)});
    sent.push_back({3002, random_bytes(rng, 10)});
    std::vector<std::byte> stream;
    for (const auto& f : sent) append_frame(stream, f);

    for (std::size_t capacity : {header_size + max_payload, 2 * (header_size + max_payload)}) {
        INFO("capacity " << capacity);
        frame_reader r(capacity);
        std::mt19937_64 chunks(capacity);
        // Chunks that cut small frames in the middle, so a partial frame is moved by compaction.
        auto got = feed(r, stream, [&] { return std::size_t{1} + chunks() % 333; });
        check_same(sent, got);
    }
}

TEST_CASE("buffered() counts received bytes not yet taken as frames", "[frame_reader]") {
    std::mt19937_64 rng(9);
    std::vector<std::byte> stream;
    sent_frame a{1, random_bytes(rng, 100)};
    sent_frame b{2, random_bytes(rng, 200)};
    append_frame(stream, a);
    append_frame(stream, b);
    const std::size_t first_len = header_size + 100;

    frame_reader r;
    CHECK(r.buffered() == 0);
    frame_view v;
    CHECK(r.next(v) == frame_reader::status::need_more);

    auto put = [&](std::size_t from, std::size_t n) {
        auto space = r.writable();
        REQUIRE(space.size() >= n);
        std::memcpy(space.data(), stream.data() + from, n);
        r.commit(n);
    };

    put(0, 10);
    CHECK(r.buffered() == 10);
    CHECK(r.next(v) == frame_reader::status::need_more);
    put(10, header_size - 10);
    CHECK(r.buffered() == header_size);
    // The header is complete but its payload is not.
    CHECK(r.next(v) == frame_reader::status::need_more);
    CHECK(r.buffered() == header_size);

    put(header_size, first_len - header_size + 30); // all of frame a and 30 bytes of b
    CHECK(r.buffered() == first_len + 30);
    REQUIRE(r.next(v) == frame_reader::status::frame);
    CHECK(v.header.request_id == 1);
    CHECK(std::vector<std::byte>(v.payload.begin(), v.payload.end()) == a.payload);
    CHECK(r.buffered() == 30);
    CHECK(r.next(v) == frame_reader::status::need_more);
    CHECK(r.buffered() == 30);

    put(first_len + 30, stream.size() - first_len - 30);
    CHECK(r.buffered() == stream.size() - first_len);
    REQUIRE(r.next(v) == frame_reader::status::frame);
    CHECK(v.header.request_id == 2);
    CHECK(std::vector<std::byte>(v.payload.begin(), v.payload.end()) == b.payload);
    CHECK(r.buffered() == 0);
    CHECK(r.next(v) == frame_reader::status::need_more);
}

TEST_CASE("garbage is refused at the first header", "[frame_reader]") {
    std::mt19937_64 rng(31337);

    SECTION("random bytes fail the header checksum") {
        for (int trial = 0; trial < 50; ++trial) {
            auto garbage = random_bytes(rng, header_size + rng() % 1000);
            frame_reader r;
            frame_reader::status last{};
            auto got = feed(
                r, garbage, [] { return std::size_t{7}; }, &last);
            CHECK(got.empty());
            CHECK(last == frame_reader::status::bad_header);
            CHECK(r.last_error() == header_check::bad_checksum);
        }
    }
    SECTION("garbage after good frames") {
        std::vector<sent_frame> sent{{1, random_bytes(rng, 50)}, {2, {}}};
        std::vector<std::byte> stream;
        for (const auto& f : sent) append_frame(stream, f);
        auto garbage = random_bytes(rng, 200);
        stream.insert(stream.end(), garbage.begin(), garbage.end());
        frame_reader r;
        frame_reader::status last{};
        auto got = feed(
            r, stream, [] { return std::size_t{13}; }, &last);
        check_same(sent, got);
        CHECK(last == frame_reader::status::bad_header);
        CHECK(r.last_error() == header_check::bad_checksum);
        // The verdict sticks: the stream cannot be resynchronised.
        frame_view v;
        CHECK(r.next(v) == frame_reader::status::bad_header);
    }
    SECTION("a sealed header announcing too long a payload") {
        message m;
        m.type = msg::putback;
        frame_header h = make_header(m, 1, 1);
        h.payload_length = max_payload + 1;
        seal(h);
        frame_reader r;
        CHECK(next_after_header(r, h) == frame_reader::status::bad_header);
        CHECK(r.last_error() == header_check::bad_length);
    }
    SECTION("a sealed header of an unknown type") {
        message m;
        frame_header h = make_header(m, 1, 1);
        h.type = 0;
        seal(h);
        frame_reader r;
        CHECK(next_after_header(r, h) == frame_reader::status::bad_header);
        CHECK(r.last_error() == header_check::bad_type);
    }
    SECTION("fewer than a header's bytes of garbage are not judged yet") {
        auto garbage = random_bytes(rng, header_size - 1);
        frame_reader r;
        auto space = r.writable();
        std::memcpy(space.data(), garbage.data(), garbage.size());
        r.commit(garbage.size());
        frame_view v;
        CHECK(r.next(v) == frame_reader::status::need_more);
        CHECK(r.last_error() == header_check::ok);
    }
}

TEST_CASE("a damaged payload is delivered with a header that exposes it", "[frame_reader]") {
    // The reader frames by length only; the payload checksum is the receiver's to check.
    std::mt19937_64 rng(8);
    sent_frame f{1, random_bytes(rng, 300)};
    std::vector<std::byte> stream;
    append_frame(stream, f);
    stream[header_size + 150] ^= std::byte{0x04};
    frame_reader r;
    auto got = feed(r, stream, [] { return std::size_t{64}; });
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload.size() == 300);
    CHECK_FALSE(payload_ok(got[0].header, got[0].payload));
}
