// page_fetcher: what the fault path (fault_resolver, readahead) needs from the rest of the node to
// obtain pages: one request for a page, readahead batches in three steps, and the cache they land
// in. The runtime implements it; the fault path depends on this interface only, so it reads in one
// direction (fault -> resolver -> fetcher -> transport -> home) and a test or a second runtime can
// stand behind it.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/address.hpp"
#include "aether/internal/clock.hpp"
#include "aether/internal/result.hpp"
#include "runtime/stats.hpp"
#include "transport/transport.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace aether {

class cache;

class page_fetcher {
public:
    virtual ~page_fetcher() = default;

    [[nodiscard]] virtual node_id self() const noexcept = 0;
    [[nodiscard]] virtual node_id node_count() const noexcept = 0;
    // How long one operation may take, and its deadline if it starts now.
    [[nodiscard]] virtual std::uint32_t timeout_ms() const noexcept = 0;
    [[nodiscard]] virtual deadline op_deadline() const noexcept = 0;
    virtual cache& local_cache() noexcept = 0;
    virtual node_counters& counters() noexcept = 0;

    // Obtains a copy of a page for this node and installs it in the window (the fault path and
    // explicit reads share it). `exclusive`: a writable copy. Copies the page into `buf` if given.
    // `from_fault`: a thread may be waiting in a fault on the page and must be woken.
    virtual result<void> acquire_page(std::uint64_t page, bool exclusive, std::byte* buf, deadline dl, bool from_fault = true,
                                      std::uint64_t* generation_out = nullptr) = 0;

    // Readahead (see runtime/readahead.hpp): a read_shared of another node's `page` that also asks
    // for up to `following` pages after it. In three steps, so that a scan can ask for its next
    // batch before it installs the current one: ask (the request goes out), receive (waits for
    // the reply, into `buf` of wire::readahead_payload_size(following) bytes), install.
    struct ahead_request {
        pending_call call;
        std::uint64_t page = 0;
        std::size_t following = 0;
        std::uint64_t sent_ns = 0; // when the request went out (its lease counts from then)
    };
    struct ahead_batch {
        std::uint64_t page = 0;
        std::size_t granted = 0; // following pages the home granted
        std::uint32_t epoch = 0;
        std::uint64_t generation = 0;
    };
    virtual result<ahead_request> ask_ahead(std::uint64_t page, std::size_t following, deadline dl) = 0;
    virtual result<ahead_batch> receive_ahead(ahead_request& rq, std::span<std::byte> buf, deadline dl) = 0;
    // Installs what a batch holds, except pages present here already or whose grant crossed an
    // invalidation (the caller looks at the cache for whether the page it needs went in).
    virtual void install_ahead(const ahead_batch& b, std::span<const std::byte> buf) = 0;

    // After a fault on this node's own page was served: installs the pages around it that nobody
    // holds (see runtime::set_fault_around_here).
    virtual void fault_around_here(std::uint64_t page) noexcept = 0;
    // A VOID page was installed: whoever drops expired VOID pages must look again. Signal-safe.
    virtual void void_page_installed() noexcept = 0;
};

} // namespace aether
