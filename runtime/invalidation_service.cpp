#include "runtime/invalidation_service.hpp"

#include "runtime/cache.hpp"

namespace aether {

void invalidation_service::on_invalidate(const wire::message& request, const reply_token& reply) {
    const std::uint64_t page = page_floor(request.address);
    const bool downgrade = (request.flags & wire::flag::downgrade) != 0;
    if (opt_.local_cache == nullptr || !is_aether(request.address)) {
        transport_.reply(reply, wire::message{}); // no copy here
        return;
    }
    // The access that faulted for this copy runs first, once (bounded by hold_ns).
    if (std::uint64_t wait = opt_.local_cache->hold_remaining_ns(page, opt_.hold_ns); wait > 0) {
        bump(opt_.counters->held_invalidations);
        transport_.exec().add_timer(deadline::after_ns(wait), [this, page, epoch = request.epoch, downgrade, reply] {
            answer(page, epoch, downgrade, reply);
        });
        return;
    }
    answer(page, request.epoch, downgrade, reply);
}

void invalidation_service::answer(std::uint64_t page, std::uint32_t epoch, bool downgrade, const reply_token& reply) {
    wire::message m;
    alignas(64) std::byte buf[page_size];
    switch (opt_.local_cache->invalidate(page, epoch, downgrade, buf)) {
    case cache::invalidation::done:
        // No bytes: if this node was the owner, it gave them in an earlier answer, which the home
        // may never have got (directory::owner_gave_up).
        m.arg0 = opt_.local_cache->given_up_generation(page);
        break;
    case cache::invalidation::sent_bytes: m.payload = std::span<const std::byte>(buf, page_size); break;
    case cache::invalidation::stale:
        // Nobody waits for this answer. Were the home still waiting, "no copy here" would be a lie
        // that loses this copy's writes; a refusal keeps the copy recorded there.
        m = wire::message::failed(failure{fetch_status::generation, void_reason::generation});
        break;
    }
    transport_.reply(reply, m);
}

} // namespace aether
