// The transport contract (transport/transport.hpp), run against every backend this build has
// (transport/backends.hpp). Two endpoints with real listeners and real connections; a handler that
// answers each kind of request in its own way (inline, later from a timer, never, with a failure),
// so that what a backend hands the runtime is checked field by field: decoded requests, replies
// with their payload where the caller asked for it, failures as failures, deadlines kept, calls
// from the service side, a node that goes offline and comes back, a restart, a wrong secret.
#include <catch2/catch.hpp>

#include "transport/backends.hpp"
#include "transport/peers.hpp"
#include "transport/transport.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace aether;

namespace {

constexpr std::uint64_t base_address = 0x7000'0000'0000;

std::byte pattern_byte(std::uint64_t address, std::size_t i) { return static_cast<std::byte>((address >> 12) * 31 + i * 7); }

// What node 0 serves, by request type:
//   ping            an empty reply, inline
//   write_bytes     arg0 = sum of the payload bytes, arg1 = payload size, epoch = flags echoed
//   read_shared     a page of pattern_byte(address, i), arg0 = address + 1
//   fetch_add       answered 20 ms later, from a timer: arg0 = arg0 + 1
//   compare_swap    never answered
//   alloc           a failure: PERMISSION
struct test_handler : request_handler {
    service_transport* net = nullptr;
    std::atomic<int> restarts{0};
    std::atomic<node_id> restarted_node{no_node};
    std::mutex mu;
    std::vector<inbound_request> seen; // payloads cleared (they are valid during on_request only)
    std::atomic<bool> on_executor_thread{true};
    std::vector<std::byte> page = std::vector<std::byte>(page_size);

    void on_request(const inbound_request& in, reply_token reply) noexcept override {
        if (!net->exec().in_loop_thread()) on_executor_thread = false;
        {
            std::lock_guard lock(mu);
            inbound_request copy = in;
            copy.message.payload = {};
            seen.push_back(copy);
        }
        const wire::message& m = in.message;
        switch (m.type) {
        case wire::msg::ping: net->reply(reply, wire::message{}); return;
        case wire::msg::write_bytes: {
            std::uint64_t sum = 0;
            for (std::byte b : m.payload) sum += std::to_integer<std::uint64_t>(b);
            net->reply(reply, wire::message{.arg0 = sum, .arg1 = m.payload.size(), .epoch = m.flags});
            return;
        }
        case wire::msg::read_shared:
            for (std::size_t i = 0; i < page_size; ++i) page[i] = pattern_byte(m.address, i);
            net->reply(reply, wire::message{.arg0 = m.address + 1, .payload = page});
            return;
        case wire::msg::fetch_add:
            net->exec().add_timer(deadline::after(std::chrono::milliseconds(20)),
                                  [this, reply, v = m.arg0] { net->reply(reply, wire::message{.arg0 = v + 1}); });
            return;
        case wire::msg::compare_swap: return;
        default: net->reply(reply, wire::message::failed(failure{fetch_status::permission, void_reason::permission})); return;
        }
    }
    void on_peer_restarted(node_id n) noexcept override {
        restarted_node = n;
        ++restarts;
    }
};

// One node: its view of the cluster, its service side and its requester.
struct endpoint {
    // `layered`: with the layers every backend gets (open_service / open_requester), as the
    // runtime uses it; otherwise the bare backend.
    endpoint(const transport_backend& b, node_id self, const wire::cluster_key& key, bool layered, node_id count = 2)
        : peers(count),
          injector(count) {
        setup.id = local_identity{self, 0x1000u + self, key};
        setup.peers = &peers;
        setup.injector = layered ? &injector : nullptr;
        setup.counters = &counters;
        setup.name = "contract" + std::to_string(self);
        service = layered ? open_service(b, setup, handler) : b.make_service(setup, handler);
        handler.net = service.get();
        requester = layered ? open_requester(b, setup) : b.make_requester(setup);
    }
    ~endpoint() {
        requester.reset();
        if (service) service->stop();
    }
    peer_table peers;
    fault_injector injector;
    transport_counters counters;
    transport_setup setup;
    test_handler handler;
    std::unique_ptr<service_transport> service;
    std::unique_ptr<request_transport> requester;
};

// A TCP socket on 127.0.0.1, bound to a free port and listening if `listening`, inheritable as a
// launcher hands it over; its port in `port`.
int loopback_socket(int type, bool listening, std::uint16_t& port) {
    int fd = ::socket(AF_INET, type, 0);
    REQUIRE(fd >= 0);
    peer_address a = peer_address::loopback(0);
    REQUIRE(::bind(fd, a.sa(), a.length) == 0);
    if (listening) REQUIRE(::listen(fd, 1) == 0);
    a.length = sizeof a.storage;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) == 0);
    port = a.port();
    return fd;
}

// Two nodes that know each other's listening address. Node 0 listens on `a_listener` when given
// (listen_endpoint::inherited_socket).
struct pair_of_nodes {
    explicit pair_of_nodes(const transport_backend& b, bool layered = false, int a_listener = -1)
        : key(wire::cluster_key::from_secret("contract-secret")),
          a(b, 0, key, layered),
          b(b, 1, key, layered) {
        auto pa = a.service->start(listen_endpoint{.address = peer_address::loopback(0), .inherited_socket = a_listener});
        auto pb = this->b.service->start(listen_endpoint{.address = peer_address::loopback(0)});
        REQUIRE(pa.ok());
        REQUIRE(pb.ok());
        for (endpoint* e : {&a, &this->b}) {
            e->peers.set_address(0, peer_address::loopback(*pa));
            e->peers.set_address(1, peer_address::loopback(*pb));
        }
    }
    wire::cluster_key key;
    endpoint a; // node 0: serves (test_handler)
    endpoint b; // node 1: asks
};

deadline in_ms(int ms) { return deadline::after(std::chrono::milliseconds(ms)); }

std::vector<const transport_backend*> runnable_backends() {
    std::vector<const transport_backend*> out;
    for (const transport_backend& b : compiled_transports()) {
        if (auto runs = b.can_run(); runs)
            out.push_back(&b);
        else
            WARN("transport " << b.name << " cannot run here, not checked: " << runs.error().message);
    }
    return out;
}

// Runs the executor's thread until `fn` ran there; returns its result.
template <class F>
auto on_executor(service_transport& s, F fn) {
    std::promise<decltype(fn())> p;
    auto f = p.get_future();
    s.exec().post([&] { p.set_value(fn()); });
    return f.get();
}

} // namespace

TEST_CASE("backends: this build has at least one, and AETHER_TRANSPORT names are checked", "[transport][contract]") {
    REQUIRE(!compiled_transports().empty());
    auto chosen = choose_transport("auto");
    REQUIRE(chosen.ok());
    const transport_backend* first = *chosen;
    CHECK(*choose_transport("") == first);
    CHECK(*choose_transport(first->name) == first);
    auto unknown = choose_transport("carrier-pigeon");
    REQUIRE(!unknown.ok());
    const std::string& why = unknown.error().message;
    CHECK(unknown.error().code == ENOENT);
    CHECK(why.find("carrier-pigeon") != std::string::npos);
    CHECK(why.find(std::string(first->name)) != std::string::npos); // the message lists what there is
}

TEST_CASE("a service takes over a socket that already listens for it, and keeps its port", "[transport][contract]") {
    for (const transport_backend* backend : runnable_backends()) {
        INFO("backend " << backend->name);
        std::uint16_t port = 0;
        const int handed_over = loopback_socket(SOCK_STREAM, true, port);
        pair_of_nodes nodes(*backend, true, handed_over);
        CHECK(nodes.a.service->port() == port);
        CHECK((::fcntl(handed_over, F_GETFD) & FD_CLOEXEC) != 0); // not passed on to what the node executes
        request_transport& ask = *nodes.b.requester;
        CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
        // Offline and back: listening again on the same port, now bound by the node itself.
        nodes.a.service->set_online(false);
        auto gone = ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(1000));
        REQUIRE(!gone.ok());
        CHECK(gone.error().unclassified()); // an errno, no VOID reason: the runtime gives that
        CHECK((gone.error().code == ECONNREFUSED || gone.error().code == ECONNRESET));
        nodes.a.service->set_online(true);
        CHECK(nodes.a.service->port() == port);
        auto back = ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000));
        CHECK(back.ok());
        if (!back.ok()) FAIL_CHECK(to_string(back.error().reason) << " errno " << back.error().code);
    }
}

TEST_CASE("check_inherited_listener says what a descriptor offered as a listener is not", "[transport]") {
    std::uint16_t port = 0, other_port = 0, udp_port = 0, idle_port = 0;
    const int listening = loopback_socket(SOCK_STREAM, true, port);
    const int other = loopback_socket(SOCK_STREAM, true, other_port);
    const int udp = loopback_socket(SOCK_DGRAM, false, udp_port);
    const int idle = loopback_socket(SOCK_STREAM, false, idle_port);
    int pipe_ends[2];
    REQUIRE(::pipe(pipe_ends) == 0);

    auto ok = check_inherited_listener(listening, peer_address::loopback(port));
    REQUIRE(ok.ok());
    CHECK(*ok == port);
    CHECK(check_inherited_listener(listening, peer_address::loopback(0)).ok()); // any port will do
    auto code = [](int fd, std::uint16_t p) {
        auto r = check_inherited_listener(fd, peer_address::loopback(p));
        return r.ok() ? 0 : r.error().code;
    };
    CHECK(code(other, port) == EADDRNOTAVAIL);
    CHECK(code(udp, udp_port) == EINVAL);
    CHECK(code(idle, idle_port) == EINVAL);
    CHECK(code(pipe_ends[0], port) == ENOTSOCK);
    CHECK(code(1'000'000, port) == EBADF);
    auto v6 = peer_address::parse("[::1]:" + std::to_string(port));
    REQUIRE(v6);
    CHECK(!check_inherited_listener(listening, *v6).ok()); // another address family
    for (int fd : {listening, other, udp, idle, pipe_ends[0], pipe_ends[1]}) ::close(fd);
}

TEST_CASE("transport contract", "[transport][contract]") {
    const auto backends = runnable_backends();
    REQUIRE(!backends.empty());
    for (const transport_backend* backend : backends) {
        INFO("backend " << backend->name);
        pair_of_nodes nodes(*backend);
        request_transport& ask = *nodes.b.requester;

        SECTION("a request arrives decoded, from its sender; the reply comes back field by field") {
            std::vector<std::byte> data(3000);
            std::uint64_t sum = 0;
            for (std::size_t i = 0; i < data.size(); ++i) {
                data[i] = static_cast<std::byte>(i * 13);
                sum += (i * 13) & 0xff;
            }
            auto r = ask.call(0,
                              wire::message{.type = wire::msg::write_bytes,
                                            .flags = 0x40,
                                            .address = base_address + 8,
                                            .arg0 = 5,
                                            .arg1 = 6,
                                            .epoch = 7,
                                            .payload = data},
                              {}, in_ms(2000));
            REQUIRE(r.ok());
            CHECK(r->ok());
            CHECK(r->arg0 == sum);
            CHECK(r->arg1 == data.size());
            CHECK(r->epoch == 0x40);
            std::lock_guard lock(nodes.a.handler.mu);
            REQUIRE(nodes.a.handler.seen.size() == 1);
            const inbound_request& in = nodes.a.handler.seen[0];
            CHECK(in.from == 1);
            CHECK(in.message.type == wire::msg::write_bytes);
            CHECK(in.message.address == base_address + 8);
            CHECK(in.message.arg0 == 5);
            CHECK(in.message.arg1 == 6);
            CHECK(in.message.epoch == 7);
            CHECK(nodes.a.handler.on_executor_thread);
        }

        SECTION("a payload in two parts arrives as one") {
            std::vector<std::byte> head(100, std::byte{1}), tail(50, std::byte{2});
            auto r = ask.call(0, wire::message{.type = wire::msg::write_bytes, .payload = head, .payload_tail = tail}, {},
                              in_ms(2000));
            REQUIRE(r.ok());
            CHECK(r->arg0 == 100 + 2 * 50);
            CHECK(r->arg1 == 150);
        }

        SECTION("a page comes back into the caller's buffer, and the reply points there") {
            std::vector<std::byte> out(page_size);
            auto r =
                ask.call(0, wire::message{.type = wire::msg::read_shared, .address = base_address + page_size}, out, in_ms(2000));
            REQUIRE(r.ok());
            CHECK(r->arg0 == base_address + page_size + 1);
            REQUIRE(r->payload.size() == page_size);
            CHECK(r->payload.data() == out.data());
            bool same = true;
            for (std::size_t i = 0; i < page_size; ++i) same = same && out[i] == pattern_byte(base_address + page_size, i);
            CHECK(same);
        }

        SECTION("a reply longer than the caller's buffer is an error, not an overflow") {
            std::vector<std::byte> out(page_size / 2);
            auto r = ask.call(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, out, in_ms(2000));
            CHECK(!r.ok());
            CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok()); // and the next call works
        }

        SECTION("a failure reply is returned as that failure") {
            auto r = ask.call(0, wire::message{.type = wire::msg::alloc}, {}, in_ms(2000));
            REQUIRE(!r.ok());
            CHECK(r.error().status == fetch_status::permission);
            CHECK(r.error().reason == void_reason::permission);
        }

        SECTION("a reply the handler sends later, from a timer, arrives") {
            auto r = ask.call(0, wire::message{.type = wire::msg::fetch_add, .arg0 = 41}, {}, in_ms(2000));
            REQUIRE(r.ok());
            CHECK(r->arg0 == 42);
        }

        SECTION("no reply: TIMEOUT at the deadline, not later; the node still answers afterwards") {
            const auto t0 = std::chrono::steady_clock::now();
            auto r = ask.call(0, wire::message{.type = wire::msg::compare_swap}, {}, in_ms(200));
            const auto waited = std::chrono::steady_clock::now() - t0;
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == ETIME); // the deadline passed on a connection its host accepted
            CHECK(waited >= std::chrono::milliseconds(195));
            CHECK(waited < std::chrono::milliseconds(1200));
            CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
        }

        SECTION("pending calls: two in flight, collected in the other order; one dropped uncollected harms nothing") {
            auto p1 = ask.start(0, wire::message{.type = wire::msg::fetch_add, .arg0 = 1}, in_ms(2000));
            auto p2 = ask.start(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, in_ms(2000));
            REQUIRE(p1.ok());
            REQUIRE(p2.ok());
            {
                auto dropped = ask.start(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, in_ms(2000));
                REQUIRE(dropped.ok());
            }
            std::vector<std::byte> out(page_size);
            auto r2 = ask.collect(p2.value(), out, in_ms(2000));
            auto r1 = ask.collect(p1.value(), {}, in_ms(2000));
            REQUIRE(r2.ok());
            REQUIRE(r1.ok());
            CHECK(r2->arg0 == base_address + 1);
            CHECK(r1->arg0 == 2);
            CHECK(!p1.value()); // spent
            for (int i = 0; i < 20; ++i) CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
        }

        SECTION("a call from the service side: the answer runs on the executor's thread") {
            service_transport& svc = *nodes.b.service;
            std::promise<std::pair<std::uint64_t, bool>> got;
            svc.exec().post([&] {
                svc.call(0, wire::message{.type = wire::msg::fetch_add, .arg0 = 9}, in_ms(2000), [&](result<wire::message> r) {
                    got.set_value({r.ok() ? r->arg0 : 0, svc.exec().in_loop_thread()});
                });
            });
            auto [value, on_thread] = got.get_future().get();
            CHECK(value == 10);
            CHECK(on_thread);
        }

        SECTION("a call from the service side that gets no answer ends at its deadline") {
            service_transport& svc = *nodes.b.service;
            std::promise<failure> got;
            const auto t0 = std::chrono::steady_clock::now();
            svc.exec().post([&] {
                svc.call(0, wire::message{.type = wire::msg::compare_swap}, in_ms(150),
                         [&](result<wire::message> r) { got.set_value(r.ok() ? failure{} : r.error()); });
            });
            failure f = got.get_future().get();
            CHECK(f.unclassified());
            CHECK(f.code == ETIME);
            CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(1200));
        }

        SECTION("the executor: posted tasks and timers run on its thread, in deadline order; a cancelled timer never") {
            service_transport& svc = *nodes.a.service;
            std::mutex mu;
            std::vector<int> order;
            std::promise<void> done;
            on_executor(svc, [&] {
                auto note = [&](int i) {
                    std::lock_guard lock(mu);
                    order.push_back(i);
                };
                svc.exec().add_timer(in_ms(60), [&, note] {
                    note(3);
                    done.set_value();
                });
                const std::uint64_t never = svc.exec().add_timer(in_ms(30), [note] { note(99); });
                svc.exec().add_timer(in_ms(20), [note] { note(2); });
                svc.exec().cancel_timer(never);
                svc.exec().post([note] { note(1); });
                return 0;
            });
            done.get_future().get();
            std::lock_guard lock(mu);
            CHECK(order == std::vector<int>{1, 2, 3});
        }

        SECTION("a node offline refuses or resets; back online, it answers again") {
            REQUIRE(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
            nodes.a.service->set_online(false);
            auto r = ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(1000));
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            INFO("errno " << r.error().code);
            CHECK((r.error().code == ECONNREFUSED || r.error().code == ECONNRESET)); // what the system said
            nodes.a.service->set_online(true);
            CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
        }

        SECTION("a request to a node outside the cluster fails; nothing breaks") {
            auto r = ask.call(7, wire::message{.type = wire::msg::ping}, {}, in_ms(500));
            REQUIRE(!r.ok());
            CHECK(r.error().code == EINVAL);
            CHECK(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
        }

        SECTION("a node that comes back with a new incarnation is reported as restarted") {
            REQUIRE(ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
            transport_setup again = nodes.b.setup;
            again.id.incarnation += 1;
            auto reborn = backend->make_requester(again);
            REQUIRE(reborn->call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
            CHECK(nodes.a.handler.restarts == 1);
            CHECK(nodes.a.handler.restarted_node == 1);
        }

        SECTION("a requester without the cluster's secret is refused, and told so") {
            transport_setup stranger = nodes.b.setup;
            stranger.id.key = wire::cluster_key::from_secret("another cluster");
            auto r = backend->make_requester(stranger)->call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000));
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == EACCES);
            std::lock_guard lock(nodes.a.handler.mu);
            CHECK(nodes.a.handler.seen.empty()); // its request never reached the handler
        }

        SECTION("a watched node that goes away becomes a suspect without any request to it") {
            service_transport& svc = *nodes.a.service;
            REQUIRE(nodes.b.requester->call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)).ok());
            // Node 0 must know node 1 answered before: its own call does that.
            std::promise<bool> pinged;
            svc.exec().post([&] {
                svc.call(1, wire::message{.type = wire::msg::ping}, in_ms(2000),
                         [&](result<wire::message> r) { pinged.set_value(r.ok()); });
            });
            REQUIRE(pinged.get_future().get());
            on_executor(svc, [&] {
                svc.watch(1);
                return 0;
            });
            nodes.a.peers.take_suspects([](node_id) {}); // forget anything noted so far
            nodes.b.service->set_online(false);
            bool suspected = false;
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!suspected && std::chrono::steady_clock::now() < until) {
                on_executor(svc, [] { return 0; }); // one turn of the executor at least
                nodes.a.peers.take_suspects([&](node_id n) { suspected = suspected || n == 1; });
            }
            CHECK(suspected);
        }
    }
}

// transport/injection_layer.hpp over every backend: each injected failure happens on the path to
// the node and is reported by the ordinary code, and clearing it restores the path.
TEST_CASE("the fault-injection layer over every backend", "[transport][contract][inject]") {
    const auto backends = runnable_backends();
    REQUIRE(!backends.empty());
    for (const transport_backend* backend : backends) {
        INFO("backend " << backend->name);
        pair_of_nodes nodes(*backend, true);
        request_transport& ask = *nodes.b.requester;
        fault_injector& path_to_0 = nodes.b.injector;
        auto seen_by_0 = [&] {
            std::lock_guard lock(nodes.a.handler.mu);
            return nodes.a.handler.seen.size();
        };
        auto service_call = [&](wire::message m, int ms) {
            service_transport& svc = *nodes.b.service;
            std::promise<result<std::uint64_t>> got;
            svc.exec().post([&] {
                svc.call(0, m, in_ms(ms), [&](result<wire::message> r) {
                    got.set_value(r ? result<std::uint64_t>(r->arg0) : result<std::uint64_t>(r.error()));
                });
            });
            return got.get_future().get();
        };
        auto ping = [&] { return ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(2000)); };

        SECTION("before any injection the layer passes everything through") {
            std::vector<std::byte> out(page_size);
            auto r = ask.call(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, out, in_ms(2000));
            REQUIRE(r.ok());
            CHECK(r->arg0 == base_address + 1);
            CHECK(service_call(wire::message{.type = wire::msg::fetch_add, .arg0 = 1}, 2000).value() == 2);
        }

        SECTION("TIMEOUT: the request is not sent; the caller waits out its deadline, then the path works again") {
            path_to_0.set(0, void_reason::timeout);
            const auto t0 = std::chrono::steady_clock::now();
            auto r = ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(200));
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == ETIME);
            CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(195));
            auto s = service_call(wire::message{.type = wire::msg::ping}, 150);
            REQUIRE(!s.ok());
            CHECK(s.error().unclassified());
            CHECK(s.error().code == ETIME);
            CHECK(seen_by_0() == 0);
            path_to_0.set(0, void_reason::none);
            CHECK(ping().ok());
        }

        SECTION("PARTITION and NODE_CRASHED: a connect() that fails; a crash of a node that answered makes a suspect") {
            REQUIRE(ping().ok()); // node 0 has answered: a refusal now makes it a suspect
            path_to_0.set(0, void_reason::partition);
            auto r = ping();
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == ENETUNREACH);
            auto s = service_call(wire::message{.type = wire::msg::ping}, 1000);
            REQUIRE(!s.ok());
            CHECK(s.error().unclassified());
            CHECK(s.error().code == ENETUNREACH);

            nodes.b.peers.take_suspects([](node_id) {});
            path_to_0.set(0, void_reason::node_crashed);
            r = ping();
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == ECONNREFUSED);
            bool suspected = false;
            nodes.b.peers.take_suspects([&](node_id n) { suspected = suspected || n == 0; });
            CHECK(suspected);
            const std::size_t before = seen_by_0();
            path_to_0.set(0, void_reason::none);
            CHECK(ping().ok());
            CHECK(seen_by_0() == before + 1);
        }

        SECTION("CORRUPTION: a damaged request is refused by the peer, a damaged reply is not delivered") {
            path_to_0.set(0, void_reason::corruption);
            std::vector<std::byte> data(100, std::byte{3});
            auto w = ask.call(0, wire::message{.type = wire::msg::write_bytes, .payload = data}, {}, in_ms(2000));
            REQUIRE(!w.ok());
            CHECK(w.error().status == fetch_status::corruption); // the peer's answer: its reason, no errno
            CHECK(w.error().reason == void_reason::corruption);
            CHECK(w.error().code == 0);
            CHECK(seen_by_0() == 0); // never reached the handler
            std::vector<std::byte> out(page_size);
            auto r = ask.call(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, out, in_ms(2000));
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == EBADMSG);
            auto s = service_call(wire::message{.type = wire::msg::read_shared, .address = base_address}, 2000);
            REQUIRE(!s.ok());
            CHECK(s.error().unclassified());
            CHECK(s.error().code == EBADMSG);
            CHECK(ping().ok()); // nothing to damage in an empty payload
            CHECK(nodes.b.counters.corrupt_payloads >= 2);
            path_to_0.set(0, void_reason::none);
            CHECK(ask.call(0, wire::message{.type = wire::msg::read_shared, .address = base_address}, out, in_ms(2000)).ok());
        }

        SECTION("reply loss: the request takes effect, its reply never comes") {
            nodes.a.injector.set_reply_loss(1, true);
            auto r = ask.call(0, wire::message{.type = wire::msg::ping}, {}, in_ms(200));
            REQUIRE(!r.ok());
            CHECK(r.error().unclassified());
            CHECK(r.error().code == ETIME);
            CHECK(seen_by_0() == 1);
            nodes.a.injector.set_reply_loss(1, false);
            CHECK(ping().ok());
        }
    }
}
