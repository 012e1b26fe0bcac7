// Framing, validation and checksums of the wire format.
#include "transport/wire.hpp"

#include "aether_config.h"

#define XXH_STATIC_LINKING_ONLY // XXH3_state_t on the stack: checksums never allocate
#include <xxhash.h>
#if AETHER_HAVE_XXH3_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#include <cstring>

namespace aether::wire {

namespace {

std::uint32_t header_sum(const frame_header& h) noexcept {
    return XXH32(&h, offsetof(frame_header, header_checksum), 0x41455448u);
}

} // namespace

std::uint64_t payload_checksum(std::span<const std::byte> payload) noexcept {
    if (payload.empty()) return 0;
#if AETHER_HAVE_XXH3_DISPATCH
    return XXH3_64bits_dispatch(payload.data(), payload.size()); // AVX2 where the CPU has it
#else
    return XXH3_64bits(payload.data(), payload.size());
#endif
}

std::uint64_t payload_checksum(std::span<const std::byte> payload, std::span<const std::byte> tail) noexcept {
    if (tail.empty()) return payload_checksum(payload);
    if (payload.empty()) return payload_checksum(tail);
    XXH3_state_t state;
    XXH3_INITSTATE(&state);
    XXH3_64bits_reset(&state);
#if AETHER_HAVE_XXH3_DISPATCH
    XXH3_64bits_update_dispatch(&state, payload.data(), payload.size());
    XXH3_64bits_update_dispatch(&state, tail.data(), tail.size());
#else
    XXH3_64bits_update(&state, payload.data(), payload.size());
    XXH3_64bits_update(&state, tail.data(), tail.size());
#endif
    return XXH3_64bits_digest(&state);
}

bool payload_ok(const frame_header& h, std::span<const std::byte> payload) noexcept {
    return payload.size() == h.payload_length && payload_checksum(payload) == h.payload_checksum;
}

void seal(frame_header& h) noexcept { h.header_checksum = header_sum(h); }

frame_header make_header(const message& m, node_id source, std::uint64_t request_id) noexcept {
    frame_header h{};
    h.magic = frame_magic;
    h.version = protocol_version;
    h.type = static_cast<std::uint8_t>(m.type);
    h.flags = m.flags;
    h.request_id = request_id;
    h.address = m.address;
    h.arg0 = m.arg0;
    h.arg1 = m.arg1;
    h.source = source;
    h.status = static_cast<std::uint8_t>(m.status);
    h.reason = static_cast<std::uint8_t>(m.reason);
    h.payload_length = static_cast<std::uint32_t>(m.payload_size());
    h.payload_checksum = m.has_checksum ? m.checksum : payload_checksum(m.payload, m.payload_tail);
    h.epoch = m.epoch;
    seal(h);
    return h;
}

void append_frame(std::vector<std::byte>& buf, const frame_header& h, const message& m, std::size_t skip) {
    const auto* hb = reinterpret_cast<const std::byte*>(&h);
    for (std::span<const std::byte> part : {std::span<const std::byte>(hb, sizeof h), m.payload, m.payload_tail}) {
        const std::size_t from = std::min(skip, part.size());
        buf.insert(buf.end(), part.begin() + static_cast<std::ptrdiff_t>(from), part.end());
        skip -= from;
    }
}

std::vector<std::byte> frame_bytes(const message& m, node_id source, std::uint64_t request_id) {
    std::vector<std::byte> out;
    out.reserve(header_size + m.payload_size());
    append_frame(out, make_header(m, source, request_id), m);
    return out;
}

message decode(const frame_header& h, std::span<const std::byte> payload) noexcept {
    message m;
    m.type = type_of(h);
    m.flags = h.flags;
    m.address = h.address;
    m.arg0 = h.arg0;
    m.arg1 = h.arg1;
    m.epoch = h.epoch;
    m.status = static_cast<fetch_status>(h.status);
    m.reason = static_cast<void_reason>(h.reason);
    m.payload = payload;
    m.checksum = h.payload_checksum;
    m.has_checksum = true;
    return m;
}

header_check check_header(const frame_header& h) noexcept {
    // The checksum first: random bytes fail it with probability 1 - 2^-32, whatever they contain.
    if (h.header_checksum != header_sum(h)) return header_check::bad_checksum;
    if (h.magic != frame_magic) return header_check::bad_magic;
    if (h.version != protocol_version) return header_check::bad_version;
    if (h.type == 0 || h.type > static_cast<std::uint8_t>(msg::last_)) return header_check::bad_type;
    if (h.payload_length > max_payload) return header_check::bad_length;
    return header_check::ok;
}

const char* to_string(header_check c) noexcept {
    switch (c) {
    case header_check::ok: return "ok";
    case header_check::bad_magic: return "bad magic";
    case header_check::bad_version: return "unsupported protocol version";
    case header_check::bad_type: return "unknown message type";
    case header_check::bad_length: return "payload too long";
    case header_check::bad_checksum: return "header checksum mismatch";
    }
    return "?";
}

const char* to_string(msg m) noexcept {
    switch (m) {
    case msg::hello: return "hello";
    case msg::challenge: return "challenge";
    case msg::auth: return "auth";
    case msg::welcome: return "welcome";
    case msg::alloc: return "alloc";
    case msg::free: return "free";
    case msg::read_shared: return "read_shared";
    case msg::read_exclusive: return "read_exclusive";
    case msg::write_bytes: return "write_bytes";
    case msg::putback: return "putback";
    case msg::fetch_add: return "fetch_add";
    case msg::compare_swap: return "compare_swap";
    case msg::get_generation: return "get_generation";
    case msg::get_global_gen: return "get_global_gen";
    case msg::revoke: return "revoke";
    case msg::invalidate: return "invalidate";
    case msg::publish: return "publish";
    case msg::lookup: return "lookup";
    case msg::barrier: return "barrier";
    case msg::ping: return "ping";
    case msg::set_refusal: return "set_refusal";
    case msg::admin: return "admin";
    }
    return "unknown";
}

} // namespace aether::wire
