// The wire format: a fixed 64-byte little-endian header, then an optional payload.
//
// Every frame carries a header checksum (XXH32 of its first 60 bytes), so a stream of garbage is
// rejected at the first header and the connection is closed; and a payload checksum (XXH3-64), so a
// damaged payload is detected and the request becomes VOID (CORRUPTION), never delivered.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/result.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace aether::wire {

static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");

inline constexpr std::uint32_t frame_magic = 0x48544541; // "AETH"
inline constexpr std::uint8_t protocol_version = 1;
// Large enough for a readahead batch of 64 pages; anything larger is a protocol error.
inline constexpr std::uint32_t max_payload = 64 * page_size + 4096;

// Message types. Requests travel requester -> home (or node -> coordinator); the reply to a
// request carries the same type with flag::reply set.
enum class msg : std::uint8_t {
    // connection set-up (see handshake.hpp)
    hello = 1,
    challenge,
    auth,
    welcome,
    // memory management at the home
    alloc, // arg0 = size                       -> address, arg0 = capability generation
    free,  // address, arg0 = size
    // coherence: requester -> home
    read_shared,    // address = page, arg0 = given up   -> payload = page, arg0 = page generation, epoch = grant
                    //   with flag::readahead, arg1 = following pages wanted (see readahead_grant)
    read_exclusive, // address = page, flag::need_data, arg0 = given up -> (payload = page), arg0 = generation, epoch = grant
                    //   (given up: the generation of the last exclusive copy of the page whose bytes the
                    //   requester gave up in an answer to an invalidation, 0 if none: directory::owner_gave_up)
    write_bytes,    // address = first byte, payload = bytes -> arg0 = new generation
    putback,        // address = page, payload = page: exclusive owner returns data -> arg1 = 1 if applied, epoch
    fetch_add,      // address = word, arg0 = delta       -> arg0 = old value
    compare_swap,   // address = word, arg0 = expected, arg1 = desired -> arg0 = old value
    get_generation, // address                           -> arg0 = page generation
    get_global_gen, // address                           -> arg0 = capability generation
    revoke,         // address                           -> arg0 = new capability generation
    // coherence: home -> cache
    invalidate, // address = page, epoch, flag::downgrade -> payload = page if it was exclusive, else arg0 = given up
    // cluster coordination
    publish, // payload = name, address
    lookup,  // payload = name, arg0 = wait ms     -> address
    barrier, // arg0 = barrier sequence number
    ping,
    // failure injection: ask a home to refuse this node's requests (arg0 = void_reason, 0 clears)
    set_refusal,
    // inspection (aetherctl over the cluster port; see handshake.hpp, admin_client): payload = one
    // admin request line -> replies with payload = the answer's text in pieces, arg0 = 1 while
    // more follow (runtime/admin/endpoint.hpp)
    admin,
    last_ = admin,
};

enum flag : std::uint16_t {
    reply = 1u << 0,
    need_data = 1u << 1, // read_exclusive: the requester holds no valid copy
    // 1u << 2: unused (was putback's keep_shared: the home now always records a returning owner as a sharer)
    downgrade = 1u << 3, // invalidate: keep a read-only copy, return the data (exclusive -> shared)
    // 1u << 4: unused (was had_copy on invalidate replies; nothing read it)
    is_sharer = 1u << 5, // read_exclusive reply: requester was a sharer, its copy is current
    readahead = 1u << 6, // read_shared: also grant up to arg1 following pages (see readahead_grant)
};

// Readahead. A read_shared with flag::readahead asks for up to arg1 (at most max_readahead) pages
// after the requested one as well. The home grants the run of following pages it can share
// without involving another node, and stops at the first it cannot. The reply's arg1 is that
// count k; its payload is the 1 + k pages, then one readahead_grant per following page.
inline constexpr std::uint32_t max_readahead = 63;
struct readahead_grant {
    std::uint32_t epoch;
    std::uint32_t reserved;
    std::uint64_t generation;
};
static_assert(sizeof(readahead_grant) == 16);
inline constexpr std::size_t readahead_payload_size(std::size_t following) noexcept {
    return (1 + following) * page_size + following * sizeof(readahead_grant);
}
static_assert(readahead_payload_size(max_readahead) <= max_payload);

struct frame_header {
    std::uint32_t magic;
    std::uint8_t version;
    std::uint8_t type;        // msg
    std::uint16_t flags;      // flag bits
    std::uint64_t request_id; // echoed in the reply
    std::uint64_t address;    // the Aether address the message is about
    std::uint64_t arg0;       // per-type operand (see msg)
    std::uint64_t arg1;
    std::uint16_t source; // sending node
    std::uint8_t status;  // reply: fetch_status (ok = 0)
    std::uint8_t reason;  // reply: void_reason of a failure
    std::uint32_t payload_length;
    std::uint64_t payload_checksum; // XXH3-64 of the payload, 0 when empty
    std::uint32_t epoch;            // coherence epoch of the page (grants and invalidations)
    std::uint32_t header_checksum;  // XXH32 over bytes [0, 60)
};
static_assert(sizeof(frame_header) == 64);
static_assert(offsetof(frame_header, request_id) == 8);
static_assert(offsetof(frame_header, address) == 16);
static_assert(offsetof(frame_header, arg0) == 24);
static_assert(offsetof(frame_header, arg1) == 32);
static_assert(offsetof(frame_header, source) == 40);
static_assert(offsetof(frame_header, status) == 42);
static_assert(offsetof(frame_header, reason) == 43);
static_assert(offsetof(frame_header, payload_length) == 44);
static_assert(offsetof(frame_header, payload_checksum) == 48);
static_assert(offsetof(frame_header, epoch) == 56);
static_assert(offsetof(frame_header, header_checksum) == 60);
inline constexpr std::size_t header_size = sizeof(frame_header);

// A request or reply before it is framed: the fields a sender chooses.
struct message {
    msg type = msg::ping;
    std::uint16_t flags = 0;
    std::uint64_t address = 0;
    std::uint64_t arg0 = 0;
    std::uint64_t arg1 = 0;
    std::uint32_t epoch = 0;
    fetch_status status = fetch_status::ok;
    void_reason reason = void_reason::none;
    // Whether `checksum` is set. A flag here, in room the layout leaves between fields, rather
    // than a std::optional after them: see the size check below the struct.
    bool has_checksum = false;
    std::span<const std::byte> payload{};
    // More payload, sent right after `payload` as one payload on the wire: a reply assembled from
    // two places (a home's pages and their grants) goes out without copying them together first.
    std::span<const std::byte> payload_tail{};
    [[nodiscard]] std::size_t payload_size() const noexcept { return payload.size() + payload_tail.size(); }
    // The payload's checksum, when has_checksum. decode() sets it to the one the frame carried.
    // Not set on a message to send, make_header computes it; set, it is sent as is, whatever the
    // payload (a link that damages bytes after the checksum was taken: injection_layer.hpp).
    std::uint64_t checksum = 0;

    [[nodiscard]] bool ok() const noexcept { return status == fetch_status::ok; }
    [[nodiscard]] failure error() const noexcept { return failure{status, reason}; }

    // A reply that says the request failed, and why.
    static message failed(failure f) noexcept {
        message m;
        m.status = f.status;
        m.reason = f.reason;
        return m;
    }
};
// Every operation builds, zero-fills and copies messages, a local one included (a fetch_add at
// its own home makes three). Up to 80 bytes GCC does that with a few vector moves; past that with
// `rep stos` / `rep movs`, microcoded, which delayed the page access after them: a message of 88
// bytes (the checksum as a std::optional) made a local fetch_add at 1 M pages 250 ns slower.
static_assert(sizeof(message) <= 80, "wire::message is zero-filled and copied on every operation's path");

// Builds a complete header (both checksums) for `m`.
frame_header make_header(const message& m, node_id source, std::uint64_t request_id) noexcept;
// Appends a frame's bytes (`h`, then m's payload and tail) from `skip` on: what a socket did not
// take already.
void append_frame(std::vector<std::byte>& buf, const frame_header& h, const message& m, std::size_t skip = 0);
// A whole frame for `m`, for a sender that writes it in one piece (the admin streams).
std::vector<std::byte> frame_bytes(const message& m, node_id source, std::uint64_t request_id);
// The message a verified frame carries (its payload: `payload`). With make_header, the only
// conversion between frames and messages.
message decode(const frame_header& h, std::span<const std::byte> payload) noexcept;
// Recomputes the header checksum after a field was changed.
void seal(frame_header& h) noexcept;

enum class header_check : std::uint8_t { ok, bad_magic, bad_version, bad_type, bad_length, bad_checksum };
header_check check_header(const frame_header& h) noexcept;
const char* to_string(header_check c) noexcept;

std::uint64_t payload_checksum(std::span<const std::byte> payload) noexcept;
// The checksum of `payload` followed by `tail`, as if they were one contiguous payload.
std::uint64_t payload_checksum(std::span<const std::byte> payload, std::span<const std::byte> tail) noexcept;
bool payload_ok(const frame_header& h, std::span<const std::byte> payload) noexcept;

inline msg type_of(const frame_header& h) noexcept { return static_cast<msg>(h.type); }
inline bool is_reply(const frame_header& h) noexcept { return (h.flags & flag::reply) != 0; }
const char* to_string(msg m) noexcept;

// The failure a reply reports (status ok -> none).
inline failure failure_of(const frame_header& h) noexcept {
    return failure{static_cast<fetch_status>(h.status), static_cast<void_reason>(h.reason)};
}

} // namespace aether::wire
