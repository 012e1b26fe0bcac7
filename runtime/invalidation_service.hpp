// invalidation_service: the cache side of the protocol. A home asks this node to give up its copy
// of a page (or, with flag::downgrade, to keep a read-only one); the answer carries the page's
// bytes when the copy was exclusive, so the home gets the owner's writes. Runs on the service
// thread, apart from the home service (node) and the coordinator: it touches only this process's
// cache, never the directory.
//
// The hold window: a copy that a fault installed a moment ago is kept until the access that
// faulted for it ran, at most hold_ns (cache::hold_remaining_ns); the answer waits for that on a
// timer, not on the thread. See docs/protocol.md, "The hold window".
#pragma once
#include "aether/internal/guard.hpp"

#include "runtime/stats.hpp"
#include "transport/transport.hpp"
#include "transport/wire.hpp"

#include <cstdint>

namespace aether {

class cache;

class invalidation_service {
public:
    struct options {
        cache* local_cache = nullptr; // none on an in-process simulated node: nothing to give up
        std::uint64_t hold_ns = 0;
        node_counters* counters = nullptr;
    };
    invalidation_service(options opts, service_transport& transport)
        : opt_(opts),
          transport_(transport) {}

    // Service thread. Answers through `reply`, now or when the copy's hold window has passed.
    void on_invalidate(const wire::message& request, const reply_token& reply);

private:
    void answer(std::uint64_t page, std::uint32_t epoch, bool downgrade, const reply_token& reply);

    options opt_;
    service_transport& transport_;
};

} // namespace aether
