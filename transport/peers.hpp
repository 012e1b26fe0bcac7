// What a node knows about the other nodes: where they listen, and what connecting to them showed.
//
// Liveness knowledge decides the VOID reason of a failed connection: a node that never answered is
// UNREACHABLE (and may still be starting, so connecting is retried until the deadline), a node that
// answered before and now refuses or resets is NODE_CRASHED, a route that disappears is PARTITION.
//
// A node may be known by a host name that does not resolve yet (its host is still booting, its DNS
// entry not there yet): the name is looked up again when the node is needed, and until it resolves
// the node is UNREACHABLE, like a node that does not answer. Lookups run on a thread of their own
// (the resolver), never on a thread that serves faults or the network: getaddrinfo cannot be given
// a deadline and may wait seconds for a DNS server that does not answer.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/result.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace aether {

struct peer_address {
    sockaddr_storage storage{};
    socklen_t length = 0;
    std::string text; // "host:port", for messages

    // A numeric host or a name, and a port; port 0 ("any free port") only for a listener that asks for it.
    enum class port_zero : bool { refused, allowed };
    static std::optional<peer_address> parse(const std::string& host_port, port_zero zero = port_zero::refused);
    static peer_address loopback(std::uint16_t port);
    [[nodiscard]] std::uint16_t port() const noexcept;
    void set_port(std::uint16_t port) noexcept; // `text` stays as it was given
    [[nodiscard]] const sockaddr* sa() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Where a node's service listens: an address to bind (port 0: any free port), or a socket a
// launcher has bound there and listens on already, handed over as a descriptor (AETHER_LISTEN_FD).
// A handed-over socket leaves no moment in which another process could take the port between the
// launcher choosing it and the node binding it.
struct listen_endpoint {
    peer_address address;
    int inherited_socket = -1; // owned by the transport from start() on; -1: bind `address`
};

// Whether `fd` can serve as the listener of a node that is to listen on `expected`: a TCP socket
// of the same address family, listening, on the same port (any port when `expected`'s is 0).
// Returns the port, or an error ("is not a TCP socket listening on <expected>: <why>") whose code
// says what is wrong: EBADF, ENOTSOCK, EINVAL (not a listening TCP socket of that family) or
// EADDRNOTAVAIL (another port).
setup_result<std::uint16_t> check_inherited_listener(int fd, const peer_address& expected);

class peer_table {
public:
    explicit peer_table(node_id node_count);
    ~peer_table();
    peer_table(const peer_table&) = delete;
    peer_table& operator=(const peer_table&) = delete;

    [[nodiscard]] node_id node_count() const noexcept { return count_; }
    void set_address(node_id n, peer_address a);
    // `n` is at "host:port" (peer_address::parse's form), looked up now; if it does not resolve, it
    // is looked up again when `n` is needed (resolve, resolve_soon). False if it did not resolve now.
    bool set_name(node_id n, const std::string& host_port);
    // The address known for `n`, without looking anything up.
    [[nodiscard]] std::optional<peer_address> address(node_id n) const;
    // The address of `n` for a requester about to connect: as known, or looked up by the resolver
    // thread while this one waits, no later than `dl`. nullopt: no address configured, or the name
    // does not resolve (the node is UNREACHABLE). A name that failed is looked up again at most
    // every retry_lookup_ns: a burst of requests to a node still booting does not become a burst
    // of DNS queries.
    std::optional<peer_address> resolve(node_id n, deadline dl);
    // Asks the resolver to look `n`'s name up again if it has no address; returns at once (for the
    // service thread, which must never wait for a lookup).
    void resolve_soon(node_id n);
    static constexpr std::uint64_t retry_lookup_ns = 100'000'000;

    // A completed handshake: returns the incarnation seen before (0 if none). The node is up again
    // if it was down; a new incarnation is recorded as a restart (take_restarts).
    std::uint64_t mark_alive(node_id n, std::uint64_t incarnation) noexcept;

    // Down: the node's process is gone or was taken offline (NODE_CRASHED), as far as this node
    // knows. True if it was up until now. Cleared by the next completed handshake.
    bool mark_down(node_id n) noexcept;
    [[nodiscard]] bool is_down(node_id n) const noexcept;
    // A request to `n` met a refused or reset connection: worth a look whether it is down
    // (async-signal-safe; the service thread probes it, see take_suspects).
    void suspect(node_id n) noexcept;
    // Calls fn(n) for each node suspected / restarted since the last call (and forgets them). The
    // counters make the common "nothing new" look a single load.
    template <class F>
    void take_suspects(F&& fn) noexcept {
        take_flagged(&entry::suspected, suspects_, fn);
    }
    template <class F>
    void take_restarts(F&& fn) noexcept {
        take_flagged(&entry::restarted, restarts_, fn);
    }
    // Silence: a node that answered before and has not been heard from for the failure
    // detector's time (runtime::tend_peers) is suspected: alive or not, it does not answer (a
    // stopped process, a cut link). Requests to it that time out then fail PARTITION rather than
    // TIMEOUT. heard_from records an answer (any thread); mark_silent / clear_silent return whether
    // the state changed.
    void heard_from(node_id n, std::uint64_t now_ns) noexcept;
    [[nodiscard]] std::uint64_t last_heard_ns(node_id n) const noexcept;
    // The round trip of the last heartbeat answered by node `n` (0: none yet), for aetherctl.
    void note_rtt(node_id n, std::uint64_t rtt_ns) noexcept {
        if (n < count_) entries_[n].rtt_ns.store(rtt_ns, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t rtt_ns(node_id n) const noexcept {
        return n < count_ ? entries_[n].rtt_ns.load(std::memory_order_relaxed) : 0;
    }
    // The bytes of the frames this node sent to and received from node `n`, headers included, on
    // every connection (aetherctl nodes and stats, the metrics). Any thread: one relaxed add.
    void count_sent(node_id n, std::size_t bytes) noexcept {
        if (n < count_) entries_[n].bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    }
    void count_received(node_id n, std::size_t bytes) noexcept {
        if (n < count_) entries_[n].bytes_received.fetch_add(bytes, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t bytes_sent(node_id n) const noexcept {
        return n < count_ ? entries_[n].bytes_sent.load(std::memory_order_relaxed) : 0;
    }
    [[nodiscard]] std::uint64_t bytes_received(node_id n) const noexcept {
        return n < count_ ? entries_[n].bytes_received.load(std::memory_order_relaxed) : 0;
    }
    bool mark_silent(node_id n) noexcept;
    bool clear_silent(node_id n) noexcept;
    [[nodiscard]] bool is_silent(node_id n) const noexcept;

    // Whether `n` is part of the cluster as this node knows it: it has an address or a name. In a
    // cluster inside one process, the ids no node was started for have neither.
    [[nodiscard]] bool configured(node_id n) const;

    // The node is known to have been up (for example: this process started it).
    void mark_known(node_id n) noexcept;
    [[nodiscard]] bool ever_alive(node_id n) const noexcept;
    [[nodiscard]] std::uint64_t incarnation(node_id n) const noexcept;

private:
    struct entry {
        std::optional<peer_address> addr;
        // For a node given by name and not resolved yet (all under mu_): the name, how many lookups
        // were asked for and how many answered (a requester waits for its own), and when the last
        // one failed.
        std::string name;
        std::uint64_t lookups_asked = 0;
        std::uint64_t lookups_done = 0;
        std::uint64_t failed_at_ns = 0;
        std::atomic<bool> ever_alive{false};
        std::atomic<std::uint64_t> incarnation{0};
        std::atomic<bool> down{false};
        std::atomic<bool> suspected{false};
        std::atomic<bool> restarted{false};
        std::atomic<std::uint64_t> last_heard_ns{0};
        std::atomic<std::uint64_t> rtt_ns{0};
        std::atomic<bool> silent{false};
        std::atomic<std::uint64_t> bytes_sent{0};
        std::atomic<std::uint64_t> bytes_received{0};
    };
    template <class F>
    void take_flagged(std::atomic<bool> entry::*flag, std::atomic<std::uint32_t>& pending, F&& fn) noexcept {
        if (pending.load(std::memory_order_acquire) == 0) return;
        pending.store(0, std::memory_order_release);
        for (node_id n = 0; n < count_; ++n)
            if ((entries_[n].*flag).exchange(false, std::memory_order_acq_rel)) fn(n);
    }
    // Under mu_: asks for a lookup of `e` unless one failed less than retry_lookup_ns ago; the
    // number of the lookup whose answer will do (0: none asked).
    std::uint64_t ask_lookup(entry& e, std::uint64_t now);
    void run_resolver();

    std::atomic<std::uint32_t> suspects_{0};
    std::atomic<std::uint32_t> restarts_{0};
    node_id count_;
    mutable std::mutex mu_;
    std::unique_ptr<entry[]> entries_;
    // The resolver: started by the first name that does not resolve at once (at init, not on a
    // fault path), waiting on lookup_asked_ for work; requesters wait on lookup_done_.
    std::condition_variable lookup_asked_;
    std::condition_variable lookup_done_;
    bool stopping_ = false;
    std::thread resolver_;
};

} // namespace aether
