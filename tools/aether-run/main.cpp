// aether-run: starts N local Aether nodes, relays their output line by line and reports how each ended.
#include "tools/aether-run/line_relay.hpp"
#include "tools/aether-run/options.hpp"
#include "tools/aether-run/outcome.hpp"
#include "tools/common/cluster.hpp"
#include "tools/common/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aether::run {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
constexpr int exit_cannot_exec = 127;
// Where a node finds its listening socket (AETHER_LISTEN_FD), as systemd's socket activation hands
// its first descriptor.
constexpr int node_listen_fd = 3;
// How long a killed node may take to disappear before it is reported as unreaped and left behind.
constexpr std::uint64_t reap_bound_ns = 5'000'000'000;

// The launcher's own stdout/stderr. Each call writes its whole argument before returning, and the
// launcher is single-threaded, so whole lines handed to write() can never be torn apart by another
// node's output.
class output_sink {
public:
    explicit output_sink(int fd)
        : fd_(fd) {}

    void write(std::string_view s) {
        while (!broken_ && !s.empty()) {
            ssize_t n = ::write(fd_, s.data(), s.size());
            if (n > 0) {
                s.remove_prefix(static_cast<std::size_t>(n));
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                // We may have inherited a non-blocking descriptor; wait instead of dropping output.
                pollfd p{fd_, POLLOUT, 0};
                ::poll(&p, 1, -1);
            } else {
                // A closed reader (EPIPE) must not stop the run: the nodes still need supervising.
                broken_ = true;
            }
        }
    }

    [[nodiscard]] bool broken() const noexcept { return broken_; }

private:
    int fd_;
    bool broken_ = false;
};

output_sink out_sink{STDOUT_FILENO};
output_sink err_sink{STDERR_FILENO};

void say(const std::string& line) { err_sink.write("aether-run: " + line + "\n"); }

std::string errno_text(int err) { return std::strerror(err); }

// A closed 0, 1 or 2 would be handed out by pipe2() and then clobbered by the dup2() in the child.
void ensure_standard_fds() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0 && nul != fd) {
            dup2(nul, fd);
            close(nul);
        }
    }
}

// The library for --preload: AETHER_PRELOAD_LIB, else the path meson compiled in.
setup_result<std::string> find_preload_library() {
    std::string path;
    std::string origin;
    const char* env = std::getenv("AETHER_PRELOAD_LIB");
    if (env != nullptr && *env != '\0') {
        path = env;
        origin = "AETHER_PRELOAD_LIB";
    } else {
#ifdef AETHER_PRELOAD_DEFAULT
        path = AETHER_PRELOAD_DEFAULT;
        origin = "the installed default";
#else
        return setup_error{"--preload: AETHER_PRELOAD_LIB is not set and no default location was compiled in", ENOENT};
#endif
    }
    if (access(path.c_str(), R_OK) != 0) {
        const int e = errno; // before the message is built: allocating may change errno
        return setup_error{"--preload: cannot use " + path + " (" + origin + "): " + errno_text(e) +
                               "; set AETHER_PRELOAD_LIB to the path of libaether_preload.so",
                           e};
    }
    // Nodes may start in another directory (a wrapper script can cd), so pin the path down now.
    if (char* real = realpath(path.c_str(), nullptr)) {
        path = real;
        std::free(real);
    }
    // ld.so splits LD_PRELOAD at spaces and colons, so such a path would silently load nothing.
    if (path.find_first_of(" :") != std::string::npos)
        return setup_error{"--preload: the path " + path + " contains a space or colon, which LD_PRELOAD cannot express", EINVAL};
    return path;
}

struct node {
    int id = 0;
    pid_t pid = -1;
    bool running = false;
    int wait_status = 0;
    int out_fd = -1;
    int err_fd = -1;
    line_relay out_relay;
    line_relay err_relay;

    explicit node(int i)
        : id(i),
          out_relay("[node " + std::to_string(i) + "] "),
          err_relay("[node " + std::to_string(i) + "] ") {}
};

// Signal state the launcher changes for itself and must undo in each child before exec.
struct signal_setup {
    sigset_t original_mask{};
    struct sigaction original_pipe {};
    struct sigaction original_chld {};
    int fd = -1;
};

class launcher {
public:
    // `listeners`: each node's listening socket, handed to it as AETHER_LISTEN_FD; empty: the nodes
    // bind their ports themselves (--base-port).
    launcher(launch_options options, std::vector<std::string> env_base, std::vector<int> ports, std::vector<int> listeners)
        : options_(std::move(options)),
          env_base_(std::move(env_base)),
          ports_(std::move(ports)),
          listeners_(std::move(listeners)) {
        for (int i = 0; i < options_.node_count; ++i) nodes_.emplace_back(i);
    }

    ~launcher() {
        if (signals_.fd >= 0) close(signals_.fd);
        if (dev_null_ >= 0) close(dev_null_);
        for (int fd : listeners_)
            if (fd >= 0) close(fd);
    }

    launcher(const launcher&) = delete;
    launcher& operator=(const launcher&) = delete;

    int run() {
        if (!setup_signals()) return exit_failed;
        dev_null_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (dev_null_ < 0) {
            say("cannot open /dev/null: " + errno_text(errno));
            return exit_failed;
        }
        start_ = std::chrono::steady_clock::now();
        for (auto& n : nodes_) {
            if (!spawn(n)) {
                kill_everything();
                reap_remaining();
                return exit_failed;
            }
        }
        return supervise();
    }

private:
    bool setup_signals() {
        // Ignoring SIGPIPE turns a vanished reader of our own output into EPIPE: the launcher has to
        // live on to reap and report the nodes, and passes the SIGPIPE on by closing their pipes.
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        sigaction(SIGPIPE, &ignore, &signals_.original_pipe);
        // An inherited SIG_IGN or SA_NOCLDWAIT for SIGCHLD would make the kernel reap the nodes
        // itself and waitpid() would never see their status.
        struct sigaction deflt {};
        deflt.sa_handler = SIG_DFL;
        sigemptyset(&deflt.sa_mask);
        sigaction(SIGCHLD, &deflt, &signals_.original_chld);

        sigset_t watched;
        sigemptyset(&watched);
        sigaddset(&watched, SIGCHLD);
        // A signal we were started with ignored stays ignored (nohup, or a background job of a
        // non-interactive shell): blocking it would make the kernel queue it for the signalfd.
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
            struct sigaction current {};
            sigaction(sig, nullptr, &current);
            if (current.sa_handler != SIG_IGN) sigaddset(&watched, sig);
        }
        if (sigprocmask(SIG_BLOCK, &watched, &signals_.original_mask) != 0) {
            say("sigprocmask: " + errno_text(errno));
            return false;
        }
        signals_.fd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
        if (signals_.fd < 0) {
            say("signalfd: " + errno_text(errno));
            return false;
        }
        return true;
    }

    std::vector<std::string> node_environment(int id) const {
        std::vector<std::string> env = env_base_;
        env.push_back("AETHER_NODE_ID=" + std::to_string(id));
        env.push_back("AETHER_NODE_COUNT=" + std::to_string(options_.node_count));
        env.push_back("AETHER_PEERS=" + tools::loopback_peers(ports_));
        if (!listeners_.empty()) env.push_back(std::string(tools::listen_fd_env) + "=" + std::to_string(node_listen_fd));
        return env;
    }

    bool spawn(node& n) {
        tools::child_pipes pipes; // 0: the node's stdout, 1: its stderr
        if (auto opened = pipes.open(); !opened) {
            say("cannot start node " + std::to_string(n.id) + ": " + opened.error().message);
            return false;
        }

        // Everything the child needs is built before fork() so that the child only makes syscalls.
        const tools::exec_args image(options_.program_of(n.id), node_environment(n.id));
        const std::string exec_error_prefix = "aether-run: cannot execute '" + std::string(image.file()) + "': ";
        const int listener = listeners_.empty() ? -1 : listeners_[static_cast<std::size_t>(n.id)];

        // Own process group, so that a kill reaches whatever the node started as well; the node
        // dies with the launcher.
        pid_t pid = tools::fork_in_own_group(exit_cannot_exec, [&] {
            if (dup2(dev_null_, STDIN_FILENO) < 0 || dup2(pipes.write_end(0), STDOUT_FILENO) < 0 ||
                dup2(pipes.write_end(1), STDERR_FILENO) < 0)
                _exit(exit_cannot_exec);
            // Every other descriptor of the launcher is close-on-exec; the listener's copy at
            // node_listen_fd is not (dup2 clears the flag, except onto itself).
            if (listener >= 0 && (listener == node_listen_fd ? fcntl(listener, F_SETFD, 0) : dup2(listener, node_listen_fd)) < 0)
                _exit(exit_cannot_exec);
            sigaction(SIGPIPE, &signals_.original_pipe, nullptr);
            sigaction(SIGCHLD, &signals_.original_chld, nullptr);
            sigprocmask(SIG_SETMASK, &signals_.original_mask, nullptr);
            execvpe(image.file(), image.argv(), image.envp());
            // One writev and nothing allocated: the line arrives whole, and the child still makes
            // only system calls.
            const char* reason = std::strerror(errno);
            iovec parts[3] = {{const_cast<char*>(exec_error_prefix.data()), exec_error_prefix.size()},
                              {const_cast<char*>(reason), std::strlen(reason)},
                              {const_cast<char*>("\n"), 1}};
            ssize_t ignored = ::writev(STDERR_FILENO, parts, 3);
            (void)ignored;
            _exit(exit_cannot_exec);
        });
        if (pid < 0) {
            say("cannot start node " + std::to_string(n.id) + ": fork: " + errno_text(errno));
            pipes.close_all();
            return false;
        }
        pipes.keep_read_ends();
        if (listener >= 0) {
            // The node has it now. Not keeping a copy means that the port refuses connections as
            // soon as the node is gone, as it would if the node had bound it itself.
            close(listener);
            listeners_[static_cast<std::size_t>(n.id)] = -1;
        }
        n.pid = pid;
        n.running = true;
        n.out_fd = pipes.read_end(0);
        n.err_fd = pipes.read_end(1);
        ++running_;
        return true;
    }

    int supervise() {
        auto deadline = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(options_.timeout_s));
        std::vector<pollfd> fds;
        std::vector<std::pair<node*, bool>> owners; // which node and stream (true = stdout) per entry
        while (running_ > 0) {
            auto now = std::chrono::steady_clock::now();
            if (now >= deadline) return on_timeout();
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
            int wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));

            fds.clear();
            owners.clear();
            fds.push_back({signals_.fd, POLLIN, 0});
            owners.push_back({nullptr, false});
            for (auto& n : nodes_) {
                if (n.out_fd >= 0) {
                    fds.push_back({n.out_fd, POLLIN, 0});
                    owners.push_back({&n, true});
                }
                if (n.err_fd >= 0) {
                    fds.push_back({n.err_fd, POLLIN, 0});
                    owners.push_back({&n, false});
                }
            }
            int ready = poll(fds.data(), fds.size(), wait_ms);
            if (ready < 0) {
                if (errno == EINTR) continue;
                say("poll: " + errno_text(errno));
                kill_everything();
                reap_remaining();
                return exit_failed;
            }
            // Output first, so that a node's last lines come before the report of its end.
            for (std::size_t i = 1; i < fds.size(); ++i)
                if (fds[i].revents != 0) relay_once(*owners[i].first, owners[i].second);
            close_streams_nobody_reads();
            if (fds[0].revents != 0) {
                if (int sig = take_signals(); sig != 0) return on_signal(sig);
            }
        }
        return finish();
    }

    // Returns the first terminating signal read, or 0; SIGCHLD just reaps.
    int take_signals() {
        signalfd_siginfo info{};
        int terminating = 0;
        bool child = false;
        while (read(signals_.fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            int sig = static_cast<int>(info.ssi_signo);
            if (sig == SIGCHLD)
                child = true;
            else if (terminating == 0)
                terminating = sig;
        }
        if (child) reap_exited();
        return terminating;
    }

    void reap_exited() {
        for (;;) {
            int status = 0;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid < 0 && errno == EINTR) continue;
            if (pid <= 0) return;
            for (auto& n : nodes_)
                if (n.running && n.pid == pid) node_ended(n, status);
        }
    }

    void node_ended(node& n, int status) {
        n.running = false;
        n.wait_status = status;
        --running_;
        drain(n);
        say("node " + std::to_string(n.id) + " " + describe_wait_status(status));
    }

    static constexpr std::size_t read_chunk = std::size_t{64} * 1024;

    // Reads one chunk from a node's stream; EOF flushes the unterminated rest and closes it.
    void relay_once(node& n, bool stdout_stream) {
        int& fd = stdout_stream ? n.out_fd : n.err_fd;
        if (fd < 0) return;
        char buf[read_chunk];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
        std::string text;
        line_relay& relay = stdout_stream ? n.out_relay : n.err_relay;
        if (got > 0) {
            relay.feed(std::string_view(buf, static_cast<std::size_t>(got)), text);
        } else {
            relay.finish(text);
            close(fd);
            fd = -1;
        }
        (stdout_stream ? out_sink : err_sink).write(text);
    }

    // Once the reader of our stdout (or stderr) is gone, the nodes' pipes for that stream are closed
    // too, so that a node writing to it gets SIGPIPE as it would at the end of a pipeline, instead
    // of running on with its output discarded until the timeout.
    void close_streams_nobody_reads() {
        for (auto& n : nodes_) {
            if (out_sink.broken() && n.out_fd >= 0) {
                close(n.out_fd);
                n.out_fd = -1;
            }
            if (err_sink.broken() && n.err_fd >= 0) {
                close(n.err_fd);
                n.err_fd = -1;
            }
        }
    }

    // After a node ended everything it wrote is already in its pipes. A descendant may still hold
    // the write ends open and go on writing, so reading stops at what is there now (a pipe holds at
    // most 1 MiB by default) instead of waiting for an EOF that might never come.
    void drain(node& n) {
        for (bool stdout_stream : {true, false}) {
            int& fd = stdout_stream ? n.out_fd : n.err_fd;
            for (int reads = 0; fd >= 0 && reads < 32; ++reads) {
                char buf[read_chunk];
                ssize_t got = read(fd, buf, sizeof buf);
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0) break;
                std::string text;
                (stdout_stream ? n.out_relay : n.err_relay).feed(std::string_view(buf, static_cast<std::size_t>(got)), text);
                (stdout_stream ? out_sink : err_sink).write(text);
            }
            if (fd >= 0) {
                std::string text;
                (stdout_stream ? n.out_relay : n.err_relay).finish(text);
                (stdout_stream ? out_sink : err_sink).write(text);
                close(fd);
                fd = -1;
            }
        }
    }

    // Whole process groups, so that what a node started dies with it. Only running nodes: once a
    // reaped node's group is empty its id may be reused by an unrelated group.
    void kill_everything() {
        for (auto& n : nodes_)
            if (n.running) tools::kill_group(n.pid);
    }

    // Bounded, so that a node stuck where SIGKILL cannot end it does not keep the launcher from
    // reporting.
    void reap_remaining() {
        std::vector<pid_t> pids;
        for (const auto& n : nodes_) pids.push_back(n.running ? n.pid : -1);
        tools::reap_within(pids, reap_bound_ns, [&](std::size_t i, const tools::child_status& s) {
            node& n = nodes_[i];
            if (s.state == tools::child_state::reaped) {
                node_ended(n, s.wait_status);
                return;
            }
            n.running = false;
            --running_;
            say("node " + std::to_string(n.id) + " could not be reaped: " + errno_text(s.error));
        });
        for (auto& n : nodes_) {
            if (!n.running) continue;
            n.running = false;
            --running_;
            say("node " + std::to_string(n.id) + " could not be reaped: still running " +
                format_seconds(static_cast<double>(reap_bound_ns) / 1e9) + " s after SIGKILL");
        }
    }

    int on_timeout() {
        say("timeout after " + format_seconds(options_.timeout_s) + " s, killing all nodes");
        kill_everything();
        reap_remaining();
        return exit_failed;
    }

    int on_signal(int sig) {
        say("received " + signal_name(sig) + ", killing all nodes");
        kill_everything();
        reap_remaining();
        return 128 + sig;
    }

    int finish() {
        std::string failed;
        for (const auto& n : nodes_) {
            const outcome& want = options_.expected[static_cast<std::size_t>(n.id)];
            if (want.matches(n.wait_status)) continue;
            if (!failed.empty()) failed += ", ";
            failed += "node " + std::to_string(n.id) + " (expected " + want.describe() + ")";
        }
        if (failed.empty()) return exit_ok;
        say("not every node ended as expected: " + failed);
        return exit_failed;
    }

    launch_options options_;
    std::vector<std::string> env_base_;
    std::vector<int> ports_;
    std::vector<int> listeners_; // per node until handed over, then -1
    std::vector<node> nodes_;
    signal_setup signals_;
    int dev_null_ = -1;
    int running_ = 0;
    std::chrono::steady_clock::time_point start_;
};

// The parent's environment minus what the launcher sets itself, plus the per-run settings shared by
// all nodes.
std::vector<std::string> shared_environment(const std::string& secret, const std::optional<std::string>& preload) {
    std::vector<std::string> replaced = {"AETHER_NODE_ID", "AETHER_NODE_COUNT", "AETHER_PEERS", "AETHER_SECRET",
                                         tools::listen_fd_env};
    std::string old_preload;
    if (preload) {
        replaced.push_back("LD_PRELOAD");
        replaced.push_back("AETHER_PRELOAD");
        if (const char* p = std::getenv("LD_PRELOAD")) old_preload = p;
    }
    std::vector<std::string> env = tools::environment_without(replaced);
    env.push_back("AETHER_SECRET=" + secret);
    if (preload) {
        // Entries already there (a sanitizer runtime, say) keep their place in front: some of them
        // refuse to run unless they are loaded first.
        env.push_back("LD_PRELOAD=" + (old_preload.empty() ? *preload : old_preload + ":" + *preload));
        env.push_back("AETHER_PRELOAD=1");
    }
    return env;
}

int main_impl(int argc, char** argv) {
    ensure_standard_fds();
    std::vector<std::string> args(argv + 1, argv + argc);
    parse_result parsed = parse_command_line(args);
    if (!parsed.options) {
        err_sink.write("aether-run: " + parsed.error + "\n" + usage_text() + "Try 'aether-run --help' for more.\n");
        return exit_usage;
    }
    launch_options& options = *parsed.options;
    if (options.help) {
        out_sink.write(help_text());
        return exit_ok;
    }

    std::optional<std::string> preload;
    if (options.preload) {
        auto found = find_preload_library();
        if (!found) {
            say(found.error().message);
            return exit_usage;
        }
        preload = *found;
    }

    std::string secret;
    if (const char* s = std::getenv("AETHER_SECRET")) {
        secret = s;
    } else if (auto generated = tools::random_secret()) {
        secret = *generated;
    } else {
        say("cannot make a cluster secret: " + generated.error().message);
        return exit_failed;
    }

    std::vector<int> ports;
    std::vector<int> listeners;
    if (options.base_port) {
        for (int i = 0; i < options.node_count; ++i) ports.push_back(*options.base_port + i);
    } else if (auto bound = tools::open_loopback_listeners(options.node_count)) {
        ports = std::move(bound->ports);
        listeners = std::move(bound->fds);
    } else {
        say(bound.error().message);
        return exit_failed;
    }

    launcher l(std::move(options), shared_environment(secret, preload), std::move(ports), std::move(listeners));
    return l.run();
}

} // namespace

} // namespace aether::run

int main(int argc, char** argv) { return aether::run::main_impl(argc, argv); }
