// Unit tests of the AETHER_* environment parsing, of the cluster file (AETHER_CONFIG) and of size
// strings.
#include <catch2/catch.hpp>

#include "runtime/admin/admin_path.hpp"
#include "runtime/config.hpp"

#include "aether/internal/log.hpp"

#include <linux/capability.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace aether;

namespace {

const char* const aether_vars[] = {
    "AETHER_NODE_ID",
    "AETHER_NODE_COUNT",
    "AETHER_PEERS",
    "AETHER_SECRET",
    "AETHER_TIMEOUT_MS",
    "AETHER_LOG",
    "AETHER_HOME_SIZE",
    "AETHER_FAULT_MODE",
    "AETHER_VOID_RETRY_MS",
    "AETHER_POLL_US",
    "AETHER_FAULT_SPIN_US",
    "AETHER_READAHEAD_PAGES",
    "AETHER_THREAD_PRIORITY",
    "AETHER_LISTEN_FD",
    "AETHER_VOID_POLICY",
    "AETHER_LEASE_MS",
    "AETHER_HOLD_US",
    "AETHER_FAULT_THREADS",
    "AETHER_TRANSPORT",
    "AETHER_CONFIG",
    "AETHER_BIND",
    "AETHER_SUSPECT_MS",
    "AETHER_ADMIN_DIR",
    "AETHER_CLUSTER",
    "AETHER_METRICS",
    "AETHER_LATENCY_HISTOGRAMS",
};

// Clears every AETHER_* variable for one test and puts the caller's environment back afterwards,
// along with the logger level AETHER_LOG may have changed.
class env_scope {
public:
    env_scope() {
        for (const char* name : aether_vars) {
            const char* v = std::getenv(name);
            saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
            ::unsetenv(name);
        }
    }
    ~env_scope() {
        for (const auto& [name, value] : saved_) {
            if (value)
                ::setenv(name, value->c_str(), 1);
            else
                ::unsetenv(name);
        }
        log::set_level("warn");
    }
    env_scope(const env_scope&) = delete;
    env_scope& operator=(const env_scope&) = delete;

    void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }
    void unset(const char* name) { ::unsetenv(name); }
    // A complete, valid three-node description.
    void set_cluster() {
        set("AETHER_NODE_COUNT", "3");
        set("AETHER_NODE_ID", "1");
        set("AETHER_PEERS", "10.0.0.1:7000,10.0.0.2:7001,node-c.example:7002");
    }

private:
    std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

// A setup result as these tests read it: the value (nullopt, or false, when there is none), and
// its error's message in `error`, which the tests check names the right variable or line.
template <class T>
std::optional<T> got(setup_result<T> r, std::string& error) {
    if (!r) {
        error = r.error().message;
        return std::nullopt;
    }
    return std::move(r).value();
}
bool got(const setup_result<void>& r, std::string& error) {
    if (!r) error = r.error().message;
    return r.ok();
}

bool mentions(const std::string& error, const char* name) { return error.find(name) != std::string::npos; }

// config_from_env must fail and explain itself by naming `name`.
void expect_rejected(const char* name) {
    std::string error;
    auto c = got(config_from_env(), error);
    CHECK_FALSE(c.has_value());
    INFO("error: " << error);
    CHECK(mentions(error, name));
}

} // namespace

TEST_CASE("each missing cluster variable is reported by name", "[config]") {
    env_scope env;
    env.set_cluster();

    SECTION("AETHER_NODE_COUNT") {
        env.unset("AETHER_NODE_COUNT");
        expect_rejected("AETHER_NODE_COUNT");
    }
    SECTION("AETHER_NODE_ID") {
        env.unset("AETHER_NODE_ID");
        expect_rejected("AETHER_NODE_ID");
    }
    SECTION("AETHER_PEERS") {
        env.unset("AETHER_PEERS");
        expect_rejected("AETHER_PEERS");
    }
    SECTION("an empty value counts as missing") {
        env.set("AETHER_PEERS", "");
        expect_rejected("AETHER_PEERS");
    }
    SECTION("nothing set at all") {
        env.unset("AETHER_NODE_COUNT");
        env.unset("AETHER_NODE_ID");
        env.unset("AETHER_PEERS");
        std::string error;
        CHECK_FALSE(got(config_from_env(), error));
        CHECK_FALSE(error.empty());
    }
}

TEST_CASE("bad node counts and ids are reported by name", "[config]") {
    env_scope env;
    env.set_cluster();

    for (const char* bad : {"0", "16385", "abc", "-1", "3x", " 3", "3 ", "0x3", "99999999999999999999999"}) {
        INFO("AETHER_NODE_COUNT=\"" << bad << "\"");
        env.set("AETHER_NODE_COUNT", bad);
        expect_rejected("AETHER_NODE_COUNT");
    }
    env.set("AETHER_NODE_COUNT", "3");
    for (const char* bad : {"3", "4", "65535", "65536", "x", "-1", "1.0"}) {
        INFO("AETHER_NODE_ID=\"" << bad << "\"");
        env.set("AETHER_NODE_ID", bad);
        expect_rejected("AETHER_NODE_ID");
    }
}

TEST_CASE("bad peer lists are reported by name", "[config]") {
    env_scope env;
    env.set_cluster();

    for (const char* bad : {
             "10.0.0.1:7000,10.0.0.2:7001",                             // too few
             "10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002,10.0.0.4:7003", // too many
             "10.0.0.1:7000,10.0.0.2,10.0.0.3:7002",                    // an entry without port
             "10.0.0.1:7000,10.0.0.2:,10.0.0.3:7002",                   // an empty port
             "10.0.0.1:7000,10.0.0.2:0,10.0.0.3:7002",                  // port 0
             "10.0.0.1:7000,10.0.0.2:70000,10.0.0.3:7002",              // port out of range
             "10.0.0.1:7000,10.0.0.2:65536,10.0.0.3:7002", "10.0.0.1:7000,10.0.0.2:7x01,10.0.0.3:7002",
             "10.0.0.1:7000,:7001,10.0.0.3:7002",          // no host
             "10.0.0.1:7000,,10.0.0.3:7002",               // an empty entry
             "10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002,", // a trailing comma
             "10.0.0.1:7000, ,10.0.0.3:7002",              // an entry of blanks only
             "10.0.0.1:7000,10.0.0.2 :7001,10.0.0.3:7002", // a blank inside an entry
         }) {
        INFO("AETHER_PEERS=\"" << bad << "\"");
        env.set("AETHER_PEERS", bad);
        expect_rejected("AETHER_PEERS");
    }
}

TEST_CASE("a complete environment is parsed", "[config]") {
    env_scope env;
    env.set_cluster();

    SECTION("with a secret") {
        env.set("AETHER_SECRET", "s3cret");
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->self == 1);
        CHECK(c->node_count == 3);
        CHECK(c->peers == std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:7001", "node-c.example:7002"});
        CHECK(c->secret == "s3cret");
        // Optional settings not given keep their defaults.
        CHECK(c->timeout_ms == SERAPH_AETHER_TIMEOUT_MS);
        CHECK(c->home_bytes == default_home_bytes);
        CHECK(c->mode == fault::fault_mode::handler);
    }
    SECTION("without a secret") {
        std::string error;
        auto c = got(config_from_env(), error);
        REQUIRE(c);
        CHECK(c->secret.empty());
    }
    SECTION("a single node") {
        env.set("AETHER_NODE_COUNT", "1");
        env.set("AETHER_NODE_ID", "0");
        env.set("AETHER_PEERS", "127.0.0.1:7000");
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->node_count == 1);
        CHECK(c->self == 0);
        CHECK(c->peers == std::vector<std::string>{"127.0.0.1:7000"});
    }
    SECTION("blanks around the entries, as people write lists") {
        env.set("AETHER_PEERS", "10.0.0.1:7000, 10.0.0.2:7001 ,\tnode-c.example:7002 ");
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->peers == std::vector<std::string>{"10.0.0.1:7000", "10.0.0.2:7001", "node-c.example:7002"});
    }
    SECTION("the extreme ports and an IPv6 host") {
        env.set("AETHER_NODE_COUNT", "2");
        env.set("AETHER_NODE_ID", "0");
        env.set("AETHER_PEERS", "[::1]:1,localhost:65535");
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->self == 0);
        CHECK(c->peers == std::vector<std::string>{"[::1]:1", "localhost:65535"});
    }
    SECTION("the largest cluster") {
        std::string peers;
        for (int i = 0; i < 16384; ++i) peers += (i ? "," : "") + std::string("h") + std::to_string(i) + ":7000";
        env.set("AETHER_NODE_COUNT", "16384");
        env.set("AETHER_NODE_ID", "16383");
        env.set("AETHER_PEERS", peers);
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->node_count == 16384);
        CHECK(c->self == 16383);
        REQUIRE(c->peers.size() == 16384);
        CHECK(c->peers.back() == "h16383:7000");
    }
    SECTION("optional settings are applied") {
        env.set("AETHER_TIMEOUT_MS", "250");
        env.set("AETHER_HOME_SIZE", "64M");
        env.set("AETHER_FAULT_MODE", "sigbus");
        std::string error;
        auto c = got(config_from_env(), error);
        INFO("error: " << error);
        REQUIRE(c);
        CHECK(c->timeout_ms == 250);
        CHECK(c->home_bytes == 64u << 20);
        CHECK(c->mode == fault::fault_mode::sigbus);
    }
    SECTION("a bad optional setting fails the whole description") {
        env.set("AETHER_HOME_SIZE", "12X");
        expect_rejected("AETHER_HOME_SIZE");
    }
}

TEST_CASE("AETHER_LISTEN_FD names the descriptor of a socket handed over by the launcher", "[config]") {
    env_scope env;
    env.set_cluster();
    std::string error;
    auto none = got(config_from_env(), error);
    REQUIRE(none);
    CHECK(none->listen_fd == -1);
    env.set("AETHER_LISTEN_FD", "3");
    auto three = got(config_from_env(), error);
    INFO("error: " << error);
    REQUIRE(three);
    CHECK(three->listen_fd == 3);
    for (const char* bad : {"-1", "x", "3x", "2147483648"}) {
        INFO("AETHER_LISTEN_FD=\"" << bad << "\"");
        env.set("AETHER_LISTEN_FD", bad);
        expect_rejected("AETHER_LISTEN_FD");
    }
}

TEST_CASE("AETHER_TIMEOUT_MS", "[config]") {
    env_scope env;
    for (const char* bad : {"0", "abc", "5000000", "3600001", "-5", "250ms"}) {
        INFO("AETHER_TIMEOUT_MS=\"" << bad << "\"");
        env.set("AETHER_TIMEOUT_MS", bad);
        runtime_config c;
        std::string error;
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_TIMEOUT_MS"));
    }
    for (auto [text, value] : {std::pair{"250", 250u}, std::pair{"1", 1u}, std::pair{"3600000", 3600000u}}) {
        INFO("AETHER_TIMEOUT_MS=\"" << text << "\"");
        env.set("AETHER_TIMEOUT_MS", text);
        runtime_config c;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(c.timeout_ms == value);
    }
}

TEST_CASE("the numeric settings take their whole range and nothing else", "[config]") {
    env_scope env;
    struct numeric {
        const char* name;
        std::uint64_t lo, hi;
        std::uint64_t (*get)(const runtime_config&);
        std::uint64_t scale; // the setting is stored in these units of the variable's
    };
    const numeric settings[] = {
        {"AETHER_VOID_RETRY_MS", 1, 3'600'000, [](const runtime_config& c) -> std::uint64_t { return c.void_retry_ms; }, 1},
        {"AETHER_POLL_US", 0, 1'000'000, [](const runtime_config& c) { return c.poll_ns.value_or(UINT64_MAX); }, 1000},
        {"AETHER_FAULT_SPIN_US", 0, 1'000'000, [](const runtime_config& c) { return c.fault_spin_ns; }, 1000},
        {"AETHER_READAHEAD_PAGES", 1, 64, [](const runtime_config& c) -> std::uint64_t { return c.readahead_pages; }, 1},
    };
    for (const numeric& n : settings) {
        for (std::uint64_t good : {n.lo, n.hi, (n.lo + n.hi) / 2}) {
            INFO(n.name << "=" << good);
            env.set(n.name, std::to_string(good));
            runtime_config c;
            std::string error;
            CHECK(got(apply_optional_env(c), error));
            CHECK(n.get(c) == good * n.scale);
        }
        std::vector<std::string> bad = {std::to_string(n.hi + 1), "abc", "-1", "12us", " 5"};
        if (n.lo > 0) bad.push_back(std::to_string(n.lo - 1));
        for (const std::string& text : bad) {
            INFO(n.name << "=\"" << text << "\"");
            env.set(n.name, text);
            runtime_config c;
            std::string error;
            CHECK_FALSE(got(apply_optional_env(c), error));
            CHECK(mentions(error, n.name));
        }
        env.unset(n.name);
    }
}

TEST_CASE("polling is on by default only where another CPU can answer meanwhile", "[config]") {
    runtime_config c;
    cpu_set_t saved;
    REQUIRE(sched_getaffinity(0, sizeof saved, &saved) == 0);
    if (CPU_COUNT(&saved) > 1) CHECK(effective_poll_ns(c) == 50'000);
    // On one CPU, waiting by polling only delays the peer.
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &saved)) {
            CPU_SET(cpu, &one);
            break;
        }
    REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
    CHECK(effective_poll_ns(c) == 0);
    // An explicit setting wins either way.
    c.poll_ns = 7'000;
    CHECK(effective_poll_ns(c) == 7'000);
    REQUIRE(sched_setaffinity(0, sizeof saved, &saved) == 0);
    c.poll_ns = 0;
    CHECK(effective_poll_ns(c) == 0);
}

TEST_CASE("a real-time service loop polls 20 us at most", "[config]") {
    runtime_config c;
    c.poll_ns = 50'000;
    CHECK(service_poll_ns(c, thread_priority::normal) == 50'000);
    CHECK(service_poll_ns(c, thread_priority::realtime) == 20'000);
    c.poll_ns = 5'000;
    CHECK(service_poll_ns(c, thread_priority::realtime) == 5'000);
    c.poll_ns = 0;
    CHECK(service_poll_ns(c, thread_priority::realtime) == 0);
}

TEST_CASE("AETHER_HOME_SIZE", "[config]") {
    env_scope env;
    for (auto [text, value] :
         {std::pair{"64M", std::size_t{64} << 20}, std::pair{"1G", std::size_t{1} << 30}, std::pair{"4096", std::size_t{4096}},
          std::pair{"4G", std::size_t{4} << 30}, std::pair{"512k", std::size_t{512} << 10}}) {
        INFO("AETHER_HOME_SIZE=\"" << text << "\"");
        env.set("AETHER_HOME_SIZE", text);
        runtime_config c;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(c.home_bytes == value);
    }
    for (const char* bad : {"5G", "12X", "0", "0M", "M", "64 M", "1.5G", "-64M"}) {
        INFO("AETHER_HOME_SIZE=\"" << bad << "\"");
        env.set("AETHER_HOME_SIZE", bad);
        runtime_config c;
        std::string error;
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_HOME_SIZE"));
    }
}

TEST_CASE("AETHER_FAULT_MODE", "[config]") {
    env_scope env;
    {
        env.set("AETHER_FAULT_MODE", "sigbus");
        runtime_config c;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(c.mode == fault::fault_mode::sigbus);
    }
    {
        env.set("AETHER_FAULT_MODE", "handler");
        runtime_config c;
        c.mode = fault::fault_mode::sigbus;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(c.mode == fault::fault_mode::handler);
    }
    for (const char* bad : {"uffd", "Handler", "sigbus ", "signal"}) {
        INFO("AETHER_FAULT_MODE=\"" << bad << "\"");
        env.set("AETHER_FAULT_MODE", bad);
        runtime_config c;
        std::string error;
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_FAULT_MODE"));
    }
}

TEST_CASE("AETHER_THREAD_PRIORITY", "[config]") {
    env_scope env;
    const std::pair<const char*, thread_priority> names[] = {
        {"auto", thread_priority::automatic}, {"normal", thread_priority::normal}, {"realtime", thread_priority::realtime}};
    for (auto [name, value] : names) {
        INFO("AETHER_THREAD_PRIORITY=\"" << name << "\"");
        env.set("AETHER_THREAD_PRIORITY", name);
        runtime_config c;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(c.threads == value);
    }
    for (const char* bad : {"fifo", "Realtime", "1", "high"}) {
        INFO("AETHER_THREAD_PRIORITY=\"" << bad << "\"");
        env.set("AETHER_THREAD_PRIORITY", bad);
        runtime_config c;
        std::string error;
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_THREAD_PRIORITY"));
    }
    runtime_config c;
    CHECK(c.threads == thread_priority::automatic); // the default
    c.threads = thread_priority::normal;
    std::string error;
    CHECK(got(effective_thread_priority(c), error) == thread_priority::normal);
}

namespace {

// In a child process: drops the permission to run real-time (CAP_SYS_NICE and RLIMIT_RTPRIO), then
// reports what `requested` becomes: 0 normal, 1 realtime, 2 refused with a message naming the
// variable and how to allow it, 3 could not drop the permission.
int effective_without_permission(thread_priority requested) {
    pid_t child = ::fork();
    if (child == 0) {
        rlimit none{0, 0};
        if (::setrlimit(RLIMIT_RTPRIO, &none) != 0) ::_exit(3);
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
        if (::syscall(SYS_capget, &header, data) != 0) ::_exit(3);
        data[CAP_SYS_NICE / 32].effective &= ~(1u << (CAP_SYS_NICE % 32));
        if (::syscall(SYS_capset, &header, data) != 0) ::_exit(3);
        runtime_config c;
        c.threads = requested;
        std::string error;
        auto p = got(effective_thread_priority(c), error);
        if (!p) ::_exit(mentions(error, "AETHER_THREAD_PRIORITY") && mentions(error, "ulimit -r") ? 2 : 4);
        ::_exit(*p == thread_priority::realtime ? 1 : 0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("real-time runtime threads where the process may have them, a clear error where asked and not allowed", "[config]") {
    // Without the permission: auto falls back to ordinary threads, an explicit request is refused.
    CHECK(effective_without_permission(thread_priority::automatic) == 0);
    CHECK(effective_without_permission(thread_priority::realtime) == 2);
    CHECK(effective_without_permission(thread_priority::normal) == 0);
    // With it (root, or `ulimit -r`): auto means real-time.
    if (may_run_realtime()) {
        runtime_config c;
        std::string error;
        CHECK(got(effective_thread_priority(c), error) == thread_priority::realtime);
    }
}

TEST_CASE("AETHER_LOG", "[config]") {
    env_scope env; // restores the "warn" level on exit
    const std::pair<const char*, spdlog::level::level_enum> levels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    };
    for (auto [name, level] : levels) {
        INFO("AETHER_LOG=\"" << name << "\"");
        env.set("AETHER_LOG", name);
        runtime_config c;
        std::string error;
        CHECK(got(apply_optional_env(c), error));
        CHECK(log::runtime().level() == level);
        CHECK(log::coherence().level() == level);
        CHECK(log::transport().level() == level);
        CHECK(log::fault().level() == level);
    }
    env.set("AETHER_LOG", "info");
    runtime_config c;
    std::string error;
    REQUIRE(got(apply_optional_env(c), error));
    for (const char* bad : {"verbose", "WARN", "warning", "6"}) {
        INFO("AETHER_LOG=\"" << bad << "\"");
        env.set("AETHER_LOG", bad);
        error.clear();
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_LOG"));
        // A rejected name leaves the level as it was.
        CHECK(log::runtime().level() == spdlog::level::info);
    }
}

TEST_CASE("no optional settings leave the configuration alone", "[config]") {
    env_scope env;
    runtime_config c;
    c.timeout_ms = 1234;
    c.home_bytes = 5 * page_size;
    c.mode = fault::fault_mode::sigbus;
    std::string error;
    CHECK(got(apply_optional_env(c), error));
    CHECK(error.empty());
    CHECK(c.timeout_ms == 1234);
    CHECK(c.home_bytes == 5 * page_size);
    CHECK(c.mode == fault::fault_mode::sigbus);
}

TEST_CASE("parse_size", "[config]") {
    CHECK(parse_size("0") == std::size_t{0});
    CHECK(parse_size("1") == std::size_t{1});
    CHECK(parse_size("4096") == std::size_t{4096});
    CHECK(parse_size("1k") == std::size_t{1024});
    CHECK(parse_size("1K") == std::size_t{1024});
    CHECK(parse_size("64m") == std::size_t{64} << 20);
    CHECK(parse_size("64M") == std::size_t{64} << 20);
    CHECK(parse_size("1g") == std::size_t{1} << 30);
    CHECK(parse_size("1G") == std::size_t{1} << 30);

    // The limit is 4 GiB, whatever the unit.
    CHECK(parse_size("4G") == std::size_t{4} << 30);
    CHECK(parse_size("4096M") == std::size_t{4} << 30);
    CHECK(parse_size("4194304K") == std::size_t{4} << 30);
    CHECK(parse_size("4294967296") == std::size_t{4} << 30);
    CHECK_FALSE(parse_size("5G"));
    CHECK_FALSE(parse_size("4097M"));
    CHECK_FALSE(parse_size("4194305K"));
    CHECK_FALSE(parse_size("4294967297"));
    CHECK_FALSE(parse_size("18446744073709551616")); // 2^64: does not even fit the parser
    CHECK_FALSE(parse_size("17179869184G"));         // would wrap to 0 if multiplied unchecked

    CHECK_FALSE(parse_size(""));
    CHECK_FALSE(parse_size("K"));
    CHECK_FALSE(parse_size("G"));
    CHECK_FALSE(parse_size("12X"));
    CHECK_FALSE(parse_size("64MB"));
    CHECK_FALSE(parse_size("64MM"));
    CHECK_FALSE(parse_size("1.5G"));
    CHECK_FALSE(parse_size("-1"));
    CHECK_FALSE(parse_size("+1"));
    CHECK_FALSE(parse_size(" 64M"));
    CHECK_FALSE(parse_size("64 M"));
    CHECK_FALSE(parse_size("64M "));
    CHECK_FALSE(parse_size("0x10"));
}

// ---- the cluster file (AETHER_CONFIG) -----------------------------------------------------------

namespace {

// A file in a directory of its own under /tmp, removed with it at the end of the test.
class temp_file {
public:
    explicit temp_file(const std::string& text, const char* name = "cluster.toml") {
        char dir[] = "/tmp/aether-config-test-XXXXXX";
        REQUIRE(::mkdtemp(dir) != nullptr);
        dir_ = dir;
        path_ = dir_ + "/" + name;
        std::ofstream(path_) << text;
    }
    ~temp_file() { (void)std::system(("rm -rf '" + dir_ + "'").c_str()); }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    std::string path_;
};

// config_from_env must fail, naming the file and the line: "<path>:<line>: ...".
void expect_file_error(const temp_file& f, int line, const char* also) {
    std::string error;
    auto c = got(config_from_env(), error);
    INFO("error: " << error);
    CHECK_FALSE(c.has_value());
    CHECK(mentions(error, (f.path() + ":" + std::to_string(line) + ":").c_str()));
    CHECK(mentions(error, also));
}

const char* const three_nodes = R"(
[[node]]
address = "10.0.0.1:7000"
[[node]]
address = "[fd00::2]:7001"
bind = "0.0.0.0:7001"
[[node]]
address = "node-c.example:7002"
)";

} // namespace

TEST_CASE("a cluster file describes the whole cluster", "[config][file]") {
    env_scope env;
    temp_file secret("  the secret \n", "secret");
    temp_file f(std::string("# the test cluster\nsecret_file = \"") + secret.path() + R"("
[settings]
timeout_ms = 250
lease_ms = 300
home_size = "64M"
fault_mode = "sigbus"
void_policy = "block"
void_retry_ms = 77
poll_us = 5
fault_spin_us = 3
readahead_pages = 8
hold_us = 9
fault_threads = 4
thread_priority = "normal"
transport = "io_uring"
log = "error"
)" + three_nodes);
    env.set("AETHER_CONFIG", f.path());
    env.set("AETHER_NODE_ID", "1");
    std::string error;
    auto c = got(config_from_env(), error);
    INFO("error: " << error);
    REQUIRE(c);
    CHECK(c->self == 1);
    CHECK(c->node_count == 3);
    CHECK(c->peers == std::vector<std::string>{"10.0.0.1:7000", "[fd00::2]:7001", "node-c.example:7002"});
    CHECK(c->bind == std::optional<std::string>("0.0.0.0:7001"));
    CHECK(c->secret == "  the secret "); // only the line end goes: blanks may be part of a secret
    CHECK(c->timeout_ms == 250);
    CHECK(c->lease_ms == std::optional<std::uint32_t>(300));
    CHECK(c->home_bytes == 64u << 20);
    CHECK(c->mode == fault::fault_mode::sigbus);
    CHECK(c->stores == store_policy::block);
    CHECK(c->void_retry_ms == 77);
    CHECK(c->poll_ns == std::optional<std::uint64_t>(5000));
    CHECK(c->fault_spin_ns == 3000);
    CHECK(c->readahead_pages == 8);
    CHECK(c->hold_ns == 9000);
    CHECK(c->fault_threads == 4);
    CHECK(c->threads == thread_priority::normal);
    CHECK(c->transport == "io_uring");
    CHECK(log::runtime().level() == spdlog::level::err);

    SECTION("another node of the same file has no bind address of its own") {
        env.set("AETHER_NODE_ID", "2");
        auto other = got(config_from_env(), error);
        REQUIRE(other);
        CHECK_FALSE(other->bind.has_value());
    }
}

TEST_CASE("the cluster file's settings apply to seraph_aether_init too", "[config][file]") {
    env_scope env;
    temp_file f(std::string("[settings]\ntimeout_ms = 321\nhome_size = \"16M\"\n") + three_nodes);
    env.set("AETHER_CONFIG", f.path());
    runtime_config c;
    std::string error;
    INFO("error: " << error);
    REQUIRE(got(apply_optional_env(c), error));
    CHECK(c.timeout_ms == 321);
    CHECK(c.home_bytes == 16u << 20);
    CHECK(c.peers.empty()); // an in-process cluster stays one
}

TEST_CASE("environment variables override the cluster file", "[config][file]") {
    env_scope env;
    temp_file f(std::string("secret = \"from the file\"\n[settings]\ntimeout_ms = 250\nfault_mode = \"sigbus\"\n") + three_nodes);
    env.set("AETHER_CONFIG", f.path());
    env.set("AETHER_NODE_ID", "1");
    env.set("AETHER_TIMEOUT_MS", "999");
    env.set("AETHER_SECRET", "from the environment");
    env.set("AETHER_BIND", "[::]:7001");
    std::string error;
    auto c = got(config_from_env(), error);
    INFO("error: " << error);
    REQUIRE(c);
    CHECK(c->timeout_ms == 999);
    CHECK(c->mode == fault::fault_mode::sigbus); // not overridden: the file's
    CHECK(c->secret == "from the environment");
    CHECK(c->bind == std::optional<std::string>("[::]:7001"));

    SECTION("AETHER_PEERS replaces the file's addresses") {
        env.set("AETHER_PEERS", "127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3");
        auto p = got(config_from_env(), error);
        REQUIRE(p);
        CHECK(p->peers == std::vector<std::string>{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"});
    }
    SECTION("a bad variable is still reported by its name") {
        env.set("AETHER_TIMEOUT_MS", "0");
        expect_rejected("AETHER_TIMEOUT_MS");
    }
}

TEST_CASE("a cluster file with a node count other than AETHER_NODE_COUNT's is an error naming both", "[config][file]") {
    env_scope env;
    temp_file f(three_nodes);
    env.set("AETHER_CONFIG", f.path());
    env.set("AETHER_NODE_ID", "0");
    env.set("AETHER_NODE_COUNT", "4");
    std::string error;
    CHECK_FALSE(got(config_from_env(), error));
    INFO("error: " << error);
    CHECK(mentions(error, "AETHER_NODE_COUNT"));
    CHECK(mentions(error, f.path().c_str()));
    env.set("AETHER_NODE_COUNT", "3"); // agreeing is fine
    CHECK(got(config_from_env(), error));
}

namespace {

// A cluster file that must be refused, and what the error names: the file's line and a word.
struct bad_file {
    const char* what;
    std::string text;
    int line;
    const char* names;
};

void expect_refused(const std::vector<bad_file>& cases) {
    for (const bad_file& b : cases) {
        DYNAMIC_SECTION(b.what) {
            env_scope env;
            env.set("AETHER_NODE_ID", "0");
            temp_file f(b.text);
            env.set("AETHER_CONFIG", f.path());
            expect_file_error(f, b.line, b.names);
        }
    }
}

} // namespace

TEST_CASE("unknown keys in the cluster file are errors naming the key and its line", "[config][file]") {
    const std::string nodes = three_nodes;
    expect_refused({
        {"at the top", "secert = \"x\"\n" + nodes, 1, "secert"},
        {"in [settings]", "[settings]\ntimeout_ms = 10\ntimeuot_ms = 20\n" + nodes, 3, "timeuot_ms"},
        {"in a [[node]]", "[[node]]\naddress = \"10.0.0.1:7000\"\nbnid = \"0.0.0.0:7000\"\n", 3, "bnid"},
    });
}

TEST_CASE("bad values in the cluster file are errors naming their line", "[config][file]") {
    const std::string nodes = three_nodes;
    expect_refused({
        {"a number out of range", "[settings]\nlog = \"warn\"\ntimeout_ms = 0\n" + nodes, 3, "timeout_ms"},
        {"a number where a name belongs", "[settings]\nfault_mode = 3\n" + nodes, 2, "fault_mode"},
        {"a size", "\n[settings]\nhome_size = \"12X\"\n" + nodes, 3, "home_size"},
        {"an address that is not host:port", "[[node]]\naddress = \"10.0.0.1:7000\"\n[[node]]\naddress = \"10.0.0.2\"\n", 4,
         "10.0.0.2"},
        {"a bind address that is not host:port", "[[node]]\naddress = \"10.0.0.1:7000\"\nbind = \"0.0.0.0\"\n", 3, "bind"},
        {"a node id out of place",
         "[[node]]\nid = 0\naddress = \"10.0.0.1:7000\"\n[[node]]\nid = 2\naddress = \"10.0.0.2:7000\"\n", 5, "id"},
        {"a node without address", "[[node]]\naddress = \"10.0.0.1:7000\"\n[[node]]\nbind = \"0.0.0.0:7000\"\n", 3, "address"},
        {"both secret and secret_file", "secret = \"a\"\nsecret_file = \"/etc/hostname\"\n" + nodes, 2, "secret"},
    });
}

TEST_CASE("a cluster file that is not TOML is an error naming the line", "[config][file]") {
    env_scope env;
    env.set("AETHER_NODE_ID", "0");
    temp_file f(std::string("[settings]\ntimeout_ms = 10\nlog = = \"warn\"\n") + three_nodes);
    env.set("AETHER_CONFIG", f.path());
    expect_file_error(f, 3, "");
}

TEST_CASE("a cluster file that cannot be read is an error naming it", "[config][file]") {
    env_scope env;
    env.set("AETHER_NODE_ID", "0");
    std::string error;
    SECTION("the cluster file") {
        env.set("AETHER_CONFIG", "/nonexistent/aether/cluster.toml");
        CHECK_FALSE(got(config_from_env(), error));
        INFO("error: " << error);
        CHECK(mentions(error, "/nonexistent/aether/cluster.toml"));
        CHECK(mentions(error, "AETHER_CONFIG"));
        runtime_config c;
        CHECK_FALSE(got(apply_optional_env(c), error)); // seraph_aether_init does not start without it either
    }
    SECTION("the secret file") {
        temp_file f(std::string("\nsecret_file = \"/nonexistent/aether/secret\"\n") + three_nodes);
        env.set("AETHER_CONFIG", f.path());
        expect_file_error(f, 2, "/nonexistent/aether/secret");
    }
}

TEST_CASE("the example cluster file is a good one", "[config][file]") {
    env_scope env;
    env.set("AETHER_CONFIG", AETHER_EXAMPLE_CLUSTER_FILE);
    env.set("AETHER_NODE_ID", "2");
    env.set("AETHER_SECRET", "given"); // its secret file is a path on a real host
    std::string error;
    auto c = got(config_from_env(), error);
    INFO("error: " << error);
    REQUIRE(c);
    CHECK(c->node_count == 3);
    CHECK(c->peers == std::vector<std::string>{"10.0.0.1:7000", "[fd00::2]:7000", "node-c.example.org:7000"});
    CHECK(c->bind == std::optional<std::string>("0.0.0.0:7000"));
}

TEST_CASE("the admin socket's directory and cluster name are settings like the others", "[config][admin]") {
    env_scope env;
    env.set_cluster();
    SECTION("unset: no directory chosen here, the runtime derives it") {
        std::string error;
        auto c = got(config_from_env(), error);
        REQUIRE(c);
        CHECK_FALSE(c->admin_dir);
        CHECK(c->cluster.empty());
    }
    SECTION("an absolute directory, or off") {
        for (const char* dir : {"/run/aether/x", "off"}) {
            env.set("AETHER_ADMIN_DIR", dir);
            std::string error;
            auto c = got(config_from_env(), error);
            REQUIRE(c);
            CHECK(c->admin_dir == std::optional<std::string>(dir));
        }
    }
    SECTION("a relative directory is refused") {
        env.set("AETHER_ADMIN_DIR", "sockets");
        expect_rejected("AETHER_ADMIN_DIR");
    }
    SECTION("a cluster name with a slash is refused") {
        env.set("AETHER_CLUSTER", "../x");
        expect_rejected("AETHER_CLUSTER");
    }
}

TEST_CASE("aetherctl finds the admin directory from the nodes' configuration", "[config][admin]") {
    env_scope env;
    std::string error;
    SECTION("nothing to go by") {
        CHECK_FALSE(got(admin_target_from_env(), error));
        CHECK(mentions(error, "--socket"));
    }
    SECTION("AETHER_ADMIN_DIR") {
        env.set("AETHER_ADMIN_DIR", "/run/x");
        env.set("AETHER_NODE_COUNT", "4");
        auto t = got(admin_target_from_env(), error);
        REQUIRE(t);
        CHECK(t->dir == "/run/x");
        CHECK(t->node_count == 4);
    }
    SECTION("the secret: the same directory as the nodes', another for another secret") {
        env.set("AETHER_SECRET", "one");
        auto one = got(admin_target_from_env(), error);
        REQUIRE(one);
        CHECK(one->dir == admin::default_dir("", "one"));
        CHECK(one->dir.find("one") == std::string::npos); // the secret does not show
        env.set("AETHER_SECRET", "two");
        auto two = got(admin_target_from_env(), error);
        REQUIRE(two);
        CHECK(two->dir != one->dir);
        env.set("AETHER_CLUSTER", "lab");
        auto named = got(admin_target_from_env(), error);
        REQUIRE(named);
        CHECK(named->dir.ends_with("/lab"));
    }
}

TEST_CASE("AETHER_METRICS takes host:port, port 0 included; AETHER_LATENCY_HISTOGRAMS on or off", "[config][admin]") {
    env_scope env;
    env.set_cluster();
    std::string error;
    env.set("AETHER_METRICS", "127.0.0.1:0");
    env.set("AETHER_LATENCY_HISTOGRAMS", "off");
    auto c = got(config_from_env(), error);
    REQUIRE(c);
    CHECK(c->metrics == std::optional<std::string>("127.0.0.1:0"));
    CHECK_FALSE(c->latency_histograms);
    env.set("AETHER_METRICS", "9100");
    expect_rejected("AETHER_METRICS");
    env.set("AETHER_METRICS", "[::1]:9100");
    env.set("AETHER_LATENCY_HISTOGRAMS", "maybe");
    expect_rejected("AETHER_LATENCY_HISTOGRAMS");
}

TEST_CASE("AETHER_LOG per component", "[config]") {
    env_scope env; // restores the "warn" level on exit
    runtime_config c;
    std::string error;
    env.set("AETHER_LOG", "aether.fault=debug,aether.transport=info");
    REQUIRE(got(apply_optional_env(c), error));
    CHECK(log::fault().level() == spdlog::level::debug);
    CHECK(log::transport().level() == spdlog::level::info); // aether.transport.tcp, by its prefix
    CHECK(log::runtime().level() == spdlog::level::warn);   // not named: unchanged
    // A bare level is for the components no item names, wherever it stands.
    env.set("AETHER_LOG", "aether.coherence=trace,error");
    REQUIRE(got(apply_optional_env(c), error));
    CHECK(log::coherence().level() == spdlog::level::trace);
    CHECK(log::runtime().level() == spdlog::level::err);
    CHECK(log::fault().level() == spdlog::level::err);
    // Nothing changes unless all of it is right: an unknown component, a bad level, a half prefix.
    for (const char* bad : {"aether.fualt=debug", "aether.fault=loud", "aether.fault=debug,", "aether.trans=info", "=info"}) {
        INFO("AETHER_LOG=\"" << bad << "\"");
        env.set("AETHER_LOG", bad);
        error.clear();
        CHECK_FALSE(got(apply_optional_env(c), error));
        CHECK(mentions(error, "AETHER_LOG"));
        CHECK(log::fault().level() == spdlog::level::err);
    }
}
