// End-to-end tests of the built aether-run binary, with small /bin/sh programs as the nodes.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "tool_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using namespace aether::test;

std::string aether_run_path() { return tool_path("AETHER_RUN"); }

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Zombies count as gone: a killed grandchild is reparented to whatever reaps orphans here, and in a
// container that may be slow or never happen, yet the process itself no longer runs.
bool process_gone(pid_t pid) {
    if (kill(pid, 0) != 0) return errno == ESRCH;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto paren = content.rfind(')');
    if (paren == std::string::npos || paren + 2 >= content.size()) return true; // vanished meanwhile
    char state = content[paren + 2];
    return state == 'Z' || state == 'X';
}

bool wait_until_gone(pid_t pid, double limit_s) {
    auto start = clock_type::now();
    while (!process_gone(pid)) {
        if (seconds_since(start) > limit_s) return false;
        usleep(10000);
    }
    return true;
}

// One aether-run process.
struct launcher_process : tool_process {
    explicit launcher_process(const std::vector<std::string>& args, const std::map<std::string, std::string>& extra_env = {})
        : tool_process(aether_run_path(), args, extra_env) {}
};

run_result run_launcher(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
    launcher_process p(args, env);
    return p.finish();
}

// Launcher arguments followed by a shell script for every node.
std::vector<std::string> sh_nodes(std::vector<std::string> launcher_args, const std::string& script) {
    launcher_args.insert(launcher_args.end(), {"--", "/bin/sh", "-c", script});
    return launcher_args;
}

// aether-run's exit code for two nodes running script, with more launcher arguments (--expect).
int exit_code_with(const std::vector<std::string>& extra_args, const std::string& script) {
    std::vector<std::string> args{"-n", "2"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return run_launcher(sh_nodes(args, script)).exit_code;
}

// "[node i] <pid>" lines, one per node, as printed by "echo $$" or "echo $!".
std::map<int, pid_t> printed_pids(const std::string& out) {
    static const std::regex pid_line(R"(\[node (\d+)\] (\d+))");
    std::map<int, pid_t> pids;
    for (const auto& line : split_lines(out)) {
        std::smatch m;
        if (std::regex_match(line, m, pid_line)) pids[std::stoi(m[1])] = static_cast<pid_t>(std::stol(m[2]));
    }
    return pids;
}

std::vector<int> peer_ports(const std::string& peers) {
    std::vector<int> ports;
    std::istringstream in(peers);
    for (std::string entry; std::getline(in, entry, ',');) {
        REQUIRE(entry.rfind("127.0.0.1:", 0) == 0);
        ports.push_back(std::stoi(entry.substr(10)));
    }
    return ports;
}

const std::string print_env = R"(echo "$AETHER_NODE_ID $AETHER_NODE_COUNT $AETHER_PEERS $AETHER_SECRET")";

// Per node: the secret and peer list it printed via print_env; checks the prefix and count on the way.
struct node_view {
    std::string peers;
    std::string secret;
};

std::map<int, node_view> parse_env_lines(const std::string& out, int count) {
    static const std::regex env_line(R"(\[node (\d+)\] (\d+) (\d+) (\S+) ?(.*))");
    std::map<int, node_view> seen;
    for (const auto& line : split_lines(out)) {
        CAPTURE(line);
        std::smatch m;
        REQUIRE(std::regex_match(line, m, env_line));
        int prefix_id = std::stoi(m[1]);
        CHECK(std::stoi(m[2]) == prefix_id);
        CHECK(std::stoi(m[3]) == count);
        CHECK(seen.count(prefix_id) == 0);
        seen[prefix_id] = {m[4], m[5]};
    }
    return seen;
}

} // namespace

TEST_CASE("nodes get their id, the count, one shared peer list and one shared secret", "[env]") {
    auto r = run_launcher(sh_nodes({"-n", "3"}, print_env));
    CAPTURE(r.out, r.err);
    REQUIRE(r.exit_code == 0);

    auto nodes = parse_env_lines(r.out, 3);
    REQUIRE(nodes.size() == 3);
    for (int i = 0; i < 3; ++i) REQUIRE(nodes.count(i) == 1);

    auto ports = peer_ports(nodes[0].peers);
    REQUIRE(ports.size() == 3);
    CHECK(std::set<int>(ports.begin(), ports.end()).size() == 3);
    for (int p : ports) CHECK((p > 0 && p < 65536));

    static const std::regex hex32("[0-9a-f]{32}");
    CHECK(std::regex_match(nodes[0].secret, hex32));
    for (int i = 1; i < 3; ++i) {
        CHECK(nodes[i].peers == nodes[0].peers);
        CHECK(nodes[i].secret == nodes[0].secret);
    }
    for (int i = 0; i < 3; ++i) CHECK(contains(r.err, "aether-run: node " + std::to_string(i) + " exited with status 0\n"));
}

TEST_CASE("each run gets a fresh secret unless the parent sets one", "[env]") {
    auto first = parse_env_lines(run_launcher(sh_nodes({"-n", "1"}, print_env)).out, 1);
    auto second = parse_env_lines(run_launcher(sh_nodes({"-n", "1"}, print_env)).out, 1);
    CHECK(first[0].secret != second[0].secret);

    auto r = run_launcher(sh_nodes({"-n", "2"}, print_env), {{"AETHER_SECRET", "parent-chosen-secret"}});
    REQUIRE(r.exit_code == 0);
    auto nodes = parse_env_lines(r.out, 2);
    REQUIRE(nodes.size() == 2);
    CHECK(nodes[0].secret == "parent-chosen-secret");
    CHECK(nodes[1].secret == "parent-chosen-secret");
}

TEST_CASE("--base-port gives exactly the requested ports", "[env]") {
    auto r = run_launcher(sh_nodes({"-n", "3", "--base-port", "41200"}, print_env));
    CAPTURE(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    auto nodes = parse_env_lines(r.out, 3);
    REQUIRE(nodes.size() == 3);
    for (const auto& [id, view] : nodes) CHECK(view.peers == "127.0.0.1:41200,127.0.0.1:41201,127.0.0.1:41202");
}

TEST_CASE("each node gets its port already listening, as descriptor 3; with --base-port it binds its own", "[env]") {
    // The node prints what descriptor AETHER_LISTEN_FD names: its port and whether it listens.
    const std::string report = R"(
import os, socket
fd = os.environ.get("AETHER_LISTEN_FD")
if fd is None:
    print(os.environ["AETHER_NODE_ID"], "none")
else:
    s = socket.socket(fileno=int(fd))
    print(os.environ["AETHER_NODE_ID"], fd, s.getsockname()[0], s.getsockname()[1],
          s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), os.environ["AETHER_PEERS"])
)";
    auto r = run_launcher({"-n", "3", "--", "python3", "-c", report});
    CAPTURE(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    static const std::regex line(R"(\[node (\d+)\] (\d+) 3 127\.0\.0\.1 (\d+) 1 (\S+))");
    int seen = 0;
    for (const auto& l : split_lines(r.out)) {
        CAPTURE(l);
        std::smatch m;
        REQUIRE(std::regex_match(l, m, line));
        const int id = std::stoi(m[1]);
        CHECK(std::stoi(m[2]) == id);
        auto ports = peer_ports(m[4]);
        REQUIRE(ports.size() == 3);
        CHECK(std::stoi(m[3]) == ports[static_cast<std::size_t>(id)]); // its own port, listening
        ++seen;
    }
    CHECK(seen == 3);

    auto fixed = run_launcher({"-n", "1", "--base-port", "41210", "--", "python3", "-c", report});
    CAPTURE(fixed.err);
    REQUIRE(fixed.exit_code == 0);
    CHECK(fixed.out == "[node 0] 0 none\n");
}

TEST_CASE("nodes inherit the environment, read /dev/null and get their arguments verbatim", "[env]") {
    auto r = run_launcher(sh_nodes({"-n", "1"}, R"(echo "$LAUNCHER_TEST_VAR"; readlink /proc/self/fd/0)"),
                          {{"LAUNCHER_TEST_VAR", "from the parent"}});
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "[node 0] from the parent\n[node 0] /dev/null\n");

    // PATH lookup for the program, and launcher-looking arguments after -- passed through untouched.
    auto args = run_launcher({"-n", "1", "--", "printf", "%s|", "a b", "--expect", "-n", "--"});
    CAPTURE(args.err);
    REQUIRE(args.exit_code == 0);
    CHECK(args.out == "[node 0] a b|--expect|-n|--|\n");
}

TEST_CASE("a node's exit status decides the result unless --expect allows it", "[outcome]") {
    const std::string script = R"(if [ "$AETHER_NODE_ID" = 1 ]; then exit 3; fi)";

    auto plain = run_launcher(sh_nodes({"-n", "2"}, script));
    CAPTURE(plain.err);
    CHECK(plain.exit_code == 1);
    CHECK(contains(plain.err, "aether-run: node 1 exited with status 3\n"));
    CHECK(contains(plain.err, "aether-run: node 0 exited with status 0\n"));

    CHECK(exit_code_with({"--expect", "1=3"}, script) == 0);
    CHECK(exit_code_with({"--expect", "1=any"}, script) == 0);
    CHECK(exit_code_with({"--expect", "1=4"}, script) == 1);
    // Node 0 exits 0, which is no longer what is expected of it.
    CHECK(exit_code_with({"--expect", "0=3", "--expect", "1=3"}, script) == 1);
}

TEST_CASE("a node killed by a signal is reported by signal name", "[outcome]") {
    const std::string script = R"(if [ "$AETHER_NODE_ID" = 1 ]; then kill -9 $$; fi)";

    auto plain = run_launcher(sh_nodes({"-n", "2"}, script));
    CAPTURE(plain.err);
    CHECK(plain.exit_code == 1);
    CHECK(contains(plain.err, "aether-run: node 1 killed by signal 9 (SIGKILL)\n"));

    CHECK(exit_code_with({"--expect", "1=SIGKILL"}, script) == 0);
    CHECK(exit_code_with({"--expect", "1=KILL"}, script) == 0);
    CHECK(exit_code_with({"--expect", "1=SIGTERM"}, script) == 1);
    // 9 is an exit status, not SIGKILL.
    CHECK(exit_code_with({"--expect", "1=9"}, script) == 1);
}

TEST_CASE("--timeout kills every node and exits 1", "[kill]") {
    auto r = run_launcher(sh_nodes({"-n", "2", "--timeout", "1"}, "echo $$; exec sleep 100"));
    CAPTURE(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.seconds >= 0.9);
    CHECK(r.seconds < 10);
    CHECK(contains(r.err, "aether-run: timeout after 1 s, killing all nodes\n"));
    CHECK(contains(r.err, "aether-run: node 0 killed by signal 9 (SIGKILL)\n"));
    CHECK(contains(r.err, "aether-run: node 1 killed by signal 9 (SIGKILL)\n"));

    auto pids = printed_pids(r.out);
    REQUIRE(pids.size() == 2);
    // aether-run reaped its own children, so these are gone at once, not eventually.
    for (const auto& [id, pid] : pids) CHECK(process_gone(pid));
}

TEST_CASE("a timeout also kills what the nodes started", "[kill]") {
    auto r = run_launcher(sh_nodes({"-n", "2", "--timeout", "1"}, "sleep 100 & echo $!; wait"));
    CAPTURE(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.seconds < 10);
    auto pids = printed_pids(r.out);
    REQUIRE(pids.size() == 2);
    for (const auto& [id, pid] : pids) CHECK(wait_until_gone(pid, 5));
}

TEST_CASE("SIGINT and SIGTERM to aether-run kill the nodes", "[kill]") {
    auto [sig, code] = GENERATE(std::pair{SIGINT, 130}, std::pair{SIGTERM, 143});
    CAPTURE(sig);
    launcher_process p(sh_nodes({"-n", "2"}, "echo $$; exec sleep 100"));
    REQUIRE(p.wait_for([&] { return printed_pids(p.out()).size() == 2; }, 10));
    auto pids = printed_pids(p.out());
    auto sent = clock_type::now();
    REQUIRE(kill(p.pid(), sig) == 0);
    auto r = p.finish();
    CAPTURE(r.out, r.err);
    CHECK(r.exit_code == code);
    CHECK(seconds_since(sent) < 5);
    CHECK(contains(r.err, "aether-run: node 0 killed by signal 9 (SIGKILL)\n"));
    CHECK(contains(r.err, "aether-run: node 1 killed by signal 9 (SIGKILL)\n"));
    for (const auto& [id, pid] : pids) CHECK(process_gone(pid));
}

TEST_CASE("nodes do not outlive a launcher that is killed outright", "[kill]") {
    launcher_process p(sh_nodes({"-n", "2"}, "echo $$; exec sleep 100"));
    REQUIRE(p.wait_for([&] { return printed_pids(p.out()).size() == 2; }, 10));
    auto pids = printed_pids(p.out());
    REQUIRE(kill(p.pid(), SIGKILL) == 0);
    auto r = p.finish();
    CHECK(r.signal == SIGKILL);
    for (const auto& [id, pid] : pids) CHECK(wait_until_gone(pid, 5));
}

TEST_CASE("a last line without a newline is still printed with its prefix", "[output]") {
    auto r = run_launcher(sh_nodes({"-n", "2"}, R"(echo first; printf 'no newline'; printf 'err tail' >&2)"));
    CAPTURE(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    // Nodes' lines may alternate, so each node's own lines are compared.
    auto lines_of = [](const std::string& text, const std::string& prefix) {
        std::vector<std::string> mine;
        for (const auto& line : split_lines(text))
            if (line.rfind(prefix, 0) == 0) mine.push_back(line);
        return mine;
    };
    for (int i = 0; i < 2; ++i) {
        std::string prefix = "[node " + std::to_string(i) + "] ";
        CHECK(lines_of(r.out, prefix) == std::vector<std::string>{prefix + "first", prefix + "no newline"});
        CHECK(lines_of(r.err, prefix) == std::vector<std::string>{prefix + "err tail"});
    }
    CHECK(split_lines(r.out).size() == 4);
    CHECK(r.out.back() == '\n');
}

TEST_CASE("lines from busy nodes never tear or mix", "[output]") {
    // seq writes through a full stdio buffer, so pipe reads end mid-line all the time and the
    // launcher has to stitch lines together while three nodes write at once.
    const std::string filler(180, 'x');
    const int lines_per_node = 2000;
    const std::string script = "fmt=\"n${AETHER_NODE_ID}-%g-" + filler + "\"; seq -f \"$fmt\" 0 " +
                               std::to_string(lines_per_node - 1) + "; seq -f \"$fmt\" 0 " + std::to_string(lines_per_node - 1) +
                               " >&2";
    auto r = run_launcher(sh_nodes({"-n", "3"}, script));
    REQUIRE(r.exit_code == 0);

    static const std::regex line_re(R"(\[node (\d)\] n(\d)-(\d+)-(x*))");
    auto check_stream = [&](const std::string& text, bool with_reports) {
        std::map<int, int> next; // per node: the sequence number its next line must carry
        int torn = 0;
        for (const auto& line : split_lines(text)) {
            if (with_reports && line.rfind("aether-run: ", 0) == 0) continue;
            std::smatch m;
            if (!std::regex_match(line, m, line_re) || m[1] != m[2] || m[4].length() != 180 ||
                std::stoi(m[3]) != next[std::stoi(m[1])]) {
                if (++torn <= 3) UNSCOPED_INFO("bad line: " << line.substr(0, 120));
                continue;
            }
            ++next[std::stoi(m[1])];
        }
        CHECK(torn == 0);
        for (int i = 0; i < 3; ++i) CHECK(next[i] == lines_per_node);
    };
    check_stream(r.out, false);
    check_stream(r.err, true);
}

TEST_CASE("when nobody reads aether-run's stdout any more, writing nodes get SIGPIPE", "[output]") {
    launcher_process p({"-n", "2", "--expect", "0=SIGPIPE", "--expect", "1=SIGPIPE", "--", "yes"});
    REQUIRE(p.wait_for([&] { return p.out().size() > 100000; }, 10));
    p.close_stdout();
    auto r = p.finish();
    CAPTURE(r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.err, "aether-run: node 0 killed by signal 13 (SIGPIPE)\n"));
    CHECK(contains(r.err, "aether-run: node 1 killed by signal 13 (SIGPIPE)\n"));
}

TEST_CASE("a program that cannot be executed fails its node with 127", "[outcome]") {
    for (std::string prog : {"/nonexistent/aether-node", "aether-no-such-program-on-path"}) {
        auto r = run_launcher({"-n", "2", "--", prog});
        CAPTURE(prog, r.err);
        CHECK(r.exit_code == 1);
        CHECK(contains(r.err, "[node 0] aether-run: cannot execute '" + prog + "'"));
        CHECK(contains(r.err, "aether-run: node 0 exited with status 127\n"));
        CHECK(contains(r.err, "aether-run: node 1 exited with status 127\n"));
    }
    // And 127 is an outcome like any other.
    CHECK(run_launcher({"-n", "1", "--expect", "0=127", "--", "/nonexistent/aether-node"}).exit_code == 0);
}

TEST_CASE("usage errors exit 2 without starting anything", "[usage]") {
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"-n", "2"},
        {"-n", "2", "--"},
        {"--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "/bin/sh", "-c", "echo ran"},
        {"-n", "0", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "257", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "--expect", "5=3", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "--expect", "1=SIGNOPE", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "--timeout", "-1", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "--base-port", "70000", "--", "/bin/sh", "-c", "echo ran"},
        {"-n", "2", "--frobnicate", "--", "/bin/sh", "-c", "echo ran"},
    };
    for (const auto& args : bad) {
        auto r = run_launcher(args);
        CAPTURE(args, r.err);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.err, "usage: aether-run"));
        CHECK(r.out.empty());
    }

    auto help = run_launcher({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(contains(help.out, "usage: aether-run"));
    CHECK(contains(help.out, "--expect"));
}

TEST_CASE("--preload sets LD_PRELOAD to the library and AETHER_PRELOAD=1", "[preload]") {
    const char* stub = std::getenv("LAUNCHER_PRELOAD_STUB");
    REQUIRE(stub != nullptr);
    auto r = run_launcher(sh_nodes({"-n", "2", "--preload"}, R"(echo "$LD_PRELOAD $AETHER_PRELOAD")"),
                          {{"AETHER_PRELOAD_LIB", stub}, {"LD_PRELOAD", ""}});
    CAPTURE(r.out, r.err);
    REQUIRE(r.exit_code == 0);
    char* real = realpath(stub, nullptr);
    REQUIRE(real != nullptr);
    std::string expected = std::string(real) + " 1";
    std::free(real);
    CHECK(contains(r.out, "[node 0] " + expected + "\n"));
    CHECK(contains(r.out, "[node 1] " + expected + "\n"));
    // The loader really did preload it into each node.
    CHECK(contains(r.err, "[node 0] launcher-preload-stub: loaded\n"));
    CHECK(contains(r.err, "[node 1] launcher-preload-stub: loaded\n"));

    auto plain = run_launcher(sh_nodes({"-n", "1"}, R"(echo "[$AETHER_PRELOAD]")"), {{"AETHER_PRELOAD_LIB", stub}});
    CHECK(plain.out == "[node 0] []\n");
}

TEST_CASE("--preload with no library to be found is a usage error", "[preload]") {
    auto r = run_launcher(sh_nodes({"-n", "1", "--preload"}, "echo ran"),
                          {{"AETHER_PRELOAD_LIB", "/nonexistent/libaether_preload.so"}});
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "/nonexistent/libaether_preload.so"));
    CHECK(r.out.empty());
}
