// Unit tests for aether-run's command-line parser, outcome matching and line relay.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "tools/aether-run/line_relay.hpp"
#include "tools/aether-run/options.hpp"
#include "tools/aether-run/outcome.hpp"

#include <csignal>
#include <string>
#include <vector>

using namespace aether::run;

namespace {

// Wait statuses as the kernel encodes them, so that matching can be tested without real processes.
int exited(int code) { return (code & 0xff) << 8; }
int signalled(int sig) { return sig & 0x7f; }

parse_result parse(std::vector<std::string> args) { return parse_command_line(args); }

bool usage_error(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    return !r.options && !r.error.empty();
}

} // namespace

TEST_CASE("a plain command line parses with defaults", "[options]") {
    auto r = parse({"-n", "3", "--", "prog", "a", "b"});
    REQUIRE(r.options);
    const auto& o = *r.options;
    CHECK(o.node_count == 3);
    CHECK_FALSE(o.base_port);
    CHECK(o.timeout_s == default_timeout_s);
    CHECK_FALSE(o.preload);
    CHECK_FALSE(o.help);
    CHECK(o.command == std::vector<std::string>{"prog", "a", "b"});
    REQUIRE(o.expected.size() == 3);
    for (const auto& e : o.expected) CHECK(e.matches(exited(0)));
    for (const auto& e : o.expected) CHECK_FALSE(e.matches(exited(1)));
}

TEST_CASE("every option accepts its value attached or separate", "[options]") {
    auto r = parse(
        {"-n4", "--base-port=5000", "--timeout", "0.25", "--expect=2=SIGTERM", "--expect", "0=any", "--preload", "--", "prog"});
    REQUIRE(r.options);
    const auto& o = *r.options;
    CHECK(o.node_count == 4);
    CHECK(o.base_port == 5000);
    CHECK(o.timeout_s == 0.25);
    CHECK(o.preload);
    CHECK(o.expected[2].matches(signalled(SIGTERM)));
    CHECK_FALSE(o.expected[2].matches(exited(0)));
    CHECK(o.expected[0].matches(exited(42)));
    CHECK(o.expected[1].matches(exited(0)));

    auto long_form = parse({"--nodes=2", "--", "prog"});
    REQUIRE(long_form.options);
    CHECK(long_form.options->node_count == 2);
}

TEST_CASE("everything after -- belongs to the program, even launcher options", "[options]") {
    auto r = parse({"-n", "1", "--", "prog", "--help", "-n", "7", "--", "--expect"});
    REQUIRE(r.options);
    CHECK_FALSE(r.options->help);
    CHECK(r.options->node_count == 1);
    CHECK(r.options->command == std::vector<std::string>{"prog", "--help", "-n", "7", "--", "--expect"});
}

TEST_CASE("':' gives each node its own program", "[options]") {
    auto r = parse({"-n", "3", "--", "./a", "x", ":", "./b", ":", "./c", "y", "z"});
    REQUIRE(r.options);
    REQUIRE(r.options->programs.size() == 3);
    CHECK(r.options->program_of(0) == std::vector<std::string>{"./a", "x"});
    CHECK(r.options->program_of(1) == std::vector<std::string>{"./b"});
    CHECK(r.options->program_of(2) == std::vector<std::string>{"./c", "y", "z"});
    // Without ':' every node runs the same program.
    auto same = parse({"-n", "2", "--", "./a", "x:y"});
    REQUIRE(same.options);
    CHECK(same.options->program_of(1) == std::vector<std::string>{"./a", "x:y"});
    CHECK(usage_error({"-n", "3", "--", "./a", ":", "./b"})); // 2 programs, 3 nodes
    CHECK(usage_error({"-n", "2", "--", "./a", ":"}));        // empty last program
    CHECK(usage_error({"-n", "2", "--", ":", "./a"}));        // empty first program
}

TEST_CASE("--help works even on an otherwise broken command line", "[options]") {
    for (auto args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"-n", "x", "--help"}, {"--bogus", "-h"}}) {
        auto r = parse(args);
        REQUIRE(r.options);
        CHECK(r.options->help);
    }
    CHECK(help_text().find("usage: aether-run") != std::string::npos);
}

TEST_CASE("usage errors are refused with a reason", "[options]") {
    CHECK(usage_error({}));
    CHECK(usage_error({"--", "prog"}));        // no -n
    CHECK(usage_error({"-n", "2"}));           // no --
    CHECK(usage_error({"-n", "2", "--"}));     // nothing after --
    CHECK(usage_error({"-n", "2", "prog"}));   // program without --
    CHECK(usage_error({"-n", "2", "--", ""})); // empty program name
    CHECK(usage_error({"-n", "0", "--", "prog"}));
    CHECK(usage_error({"-n", "257", "--", "prog"}));
    CHECK(usage_error({"-n", "3x", "--", "prog"}));
    CHECK(usage_error({"-n", "-1", "--", "prog"}));
    CHECK(usage_error({"-n", "--", "prog"})); // -n without its value
    CHECK(usage_error({"-n", "2", "--bogus", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--base-port", "0", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--base-port", "65535", "--", "prog"})); // node 1 would need 65536
    CHECK(usage_error({"-n", "2", "--timeout", "0", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--timeout", "-1", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--timeout", "soon", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--timeout", "inf", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--timeout", "nan", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--expect", "1", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--expect", "2=0", "--", "prog"})); // there is no node 2
    CHECK(usage_error({"-n", "2", "--expect", "x=0", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--expect", "1=SIGBOGUS", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--expect", "1=256", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--expect", "1=3", "--expect", "1=4", "--", "prog"}));
    CHECK(usage_error({"-n", "2", "--preload=yes", "--", "prog"}));

    CHECK_FALSE(usage_error({"-n", "256", "--base-port", "65280", "--", "prog"})); // 65280 + 255 = 65535
}

TEST_CASE("outcomes parse as exit statuses, signal names or any", "[outcome]") {
    auto three = parse_outcome("3");
    REQUIRE(three);
    CHECK(three->matches(exited(3)));
    CHECK_FALSE(three->matches(exited(0)));
    CHECK_FALSE(three->matches(signalled(3)));

    for (const char* name : {"SIGKILL", "KILL", "kill", "SigKill"}) {
        auto k = parse_outcome(name);
        REQUIRE(k);
        CHECK(k->matches(signalled(SIGKILL)));
        CHECK_FALSE(k->matches(exited(9)));
        CHECK_FALSE(k->matches(signalled(SIGTERM)));
    }
    // A number is always an exit status: 9 must not quietly mean SIGKILL.
    auto nine = parse_outcome("9");
    REQUIRE(nine);
    CHECK_FALSE(nine->matches(signalled(SIGKILL)));

    auto any = parse_outcome("any");
    REQUIRE(any);
    CHECK(any->matches(exited(0)));
    CHECK(any->matches(exited(77)));
    CHECK(any->matches(signalled(SIGSEGV)));

    CHECK(parse_outcome("SIGSEGV")->matches(signalled(SIGSEGV)));
    CHECK(parse_outcome("255"));
    CHECK_FALSE(parse_outcome(""));
    CHECK_FALSE(parse_outcome("256"));
    CHECK_FALSE(parse_outcome("-1"));
    CHECK_FALSE(parse_outcome("3x"));
    CHECK_FALSE(parse_outcome("SIG"));
    CHECK_FALSE(parse_outcome("SIGNOPE"));
}

TEST_CASE("signal names round-trip", "[outcome]") {
    CHECK(signal_name(SIGKILL) == "SIGKILL");
    CHECK(signal_name(SIGSEGV) == "SIGSEGV");
    CHECK(signal_name(SIGRTMIN + 1) == "SIGRTMIN+1");
    for (int sig = 1; sig < SIGRTMIN; ++sig) {
        if (signal_name(sig) == "SIG" + std::to_string(sig)) continue; // unused numbers (32, 33)
        CAPTURE(sig, signal_name(sig));
        CHECK(signal_from_name(signal_name(sig)) == sig);
    }
    CHECK(signal_from_name(signal_name(SIGRTMIN + 3)) == SIGRTMIN + 3);
}

TEST_CASE("wait statuses are described for the report line", "[outcome]") {
    CHECK(describe_wait_status(exited(0)) == "exited with status 0");
    CHECK(describe_wait_status(exited(127)) == "exited with status 127");
    CHECK(describe_wait_status(signalled(SIGKILL)) == "killed by signal 9 (SIGKILL)");
    CHECK(describe_wait_status(signalled(SIGSEGV)) == "killed by signal 11 (SIGSEGV)");
}

TEST_CASE("the timeout is printed the way a person writes it", "[options]") {
    CHECK(format_seconds(300) == "300");
    CHECK(format_seconds(1) == "1");
    CHECK(format_seconds(0.5) == "0.5");
}

TEST_CASE("line relay reassembles lines however the reads cut them", "[relay]") {
    line_relay r("[node 7] ");
    std::string out;
    r.feed("hel", out);
    CHECK(out.empty());
    r.feed("lo\nwor", out);
    CHECK(out == "[node 7] hello\n");
    r.feed("ld\n\nthird\nfourth", out);
    CHECK(out == "[node 7] hello\n[node 7] world\n[node 7] \n[node 7] third\n");
    CHECK(r.pending() == 6);
    r.finish(out);
    CHECK(out == "[node 7] hello\n[node 7] world\n[node 7] \n[node 7] third\n[node 7] fourth\n");
    std::string after;
    r.finish(after); // nothing pending: no empty line invented
    CHECK(after.empty());
}

TEST_CASE("line relay feeds one byte at a time", "[relay]") {
    line_relay r("> ");
    std::string out;
    for (char c : std::string("a\nbc\nd")) r.feed(std::string_view(&c, 1), out);
    r.finish(out);
    CHECK(out == "> a\n> bc\n> d\n");
}

TEST_CASE("line relay bounds an endless unterminated line", "[relay]") {
    line_relay r("p ", 4);
    std::string out;
    r.feed("abcdefghij", out);
    CHECK(out == "p abcd\np efgh\n");
    CHECK(r.pending() == 2);
    r.feed("k\n", out);
    CHECK(out == "p abcd\np efgh\np ijk\n");
}
