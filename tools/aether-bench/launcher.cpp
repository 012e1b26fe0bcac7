// Process groups of a figure: fork, pin, re-execute /proc/self/exe in a node role, supervise.
#include "tools/aether-bench/launcher.hpp"

#include "tools/aether-bench/node_roles.hpp"
#include "tools/common/cluster.hpp"
#include "tools/common/process.hpp"

#include "aether/internal/clock.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace aether::bench {

namespace {

constexpr int child_result_fd = 3;
constexpr int child_listen_fd = 4;
constexpr std::size_t log_tail_bytes = std::size_t{16} * 1024;
// The exit statuses of a child that failed before exec; describe() turns them back into words.
constexpr int exit_no_descriptors = 124;
constexpr int exit_not_pinned = 125;
constexpr int exit_orphaned = 126;
// After one process of a group failed, how long the others may take to report before being killed.
constexpr std::uint64_t failure_grace_ns = 1'000'000'000;
// How long the other processes may take to finish once the measuring one (the first) is done.
constexpr std::uint64_t finish_grace_ns = 10'000'000'000;
// How long a killed process may take to disappear before it is reported as unreaped.
constexpr std::uint64_t reap_bound_ns = 5'000'000'000;

volatile std::sig_atomic_t interrupt_flag = 0;

void on_interrupt(int) { interrupt_flag = 1; }

struct running {
    process_outcome out;
    pid_t pid = -1;
    bool alive = false;
    int result_fd = -1;
    int log_fd = -1;
};

// In the child between fork and exec (already in its own group and tied to the driver): only
// async-signal-safe calls.
[[noreturn]] void exec_child(const launch& l, int result_w, int log_w, int cpu, const tools::exec_args& image) {
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) _exit(exit_not_pinned);
    }
    // Move every descriptor above the targets first, so that no dup2 overwrites a source.
    int res = fcntl(result_w, F_DUPFD_CLOEXEC, 10);
    int log = fcntl(log_w, F_DUPFD_CLOEXEC, 10);
    int lst = l.inherit_listen_fd >= 0 ? fcntl(l.inherit_listen_fd, F_DUPFD_CLOEXEC, 10) : -1;
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (res < 0 || log < 0 || nul < 0 || (l.inherit_listen_fd >= 0 && lst < 0)) _exit(exit_no_descriptors);
    if (dup2(nul, STDIN_FILENO) < 0 || dup2(log, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0 ||
        dup2(res, child_result_fd) < 0)
        _exit(exit_no_descriptors);
    if (lst >= 0 && dup2(lst, child_listen_fd) < 0) _exit(exit_no_descriptors);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, nullptr);
    execve("/proc/self/exe", image.argv(), image.envp());
    _exit(127);
}

// On failure the error names the step and its errno ("fork: ..."), for the figure's report.
setup_result<void> spawn(running& r, const launch& l, int cpu) {
    // Pipe 0 carries the child's results, pipe 1 its log (stdout and stderr).
    tools::child_pipes pipes;
    if (auto opened = pipes.open(); !opened) return opened;
    // Everything the child needs is built before fork(), so that the child only makes system calls.
    std::vector<std::string> args = {"aether-bench", node_role_flag};
    args.insert(args.end(), l.args.begin(), l.args.end());
    std::vector<std::string> env = l.env;
    env.push_back(std::string(result_fd_env) + "=" + std::to_string(child_result_fd));
    if (l.inherit_listen_fd >= 0) env.push_back(std::string(tools::listen_fd_env) + "=" + std::to_string(child_listen_fd));
    const tools::exec_args image(std::move(args), std::move(env));

    pid_t pid =
        tools::fork_in_own_group(exit_orphaned, [&] { exec_child(l, pipes.write_end(0), pipes.write_end(1), cpu, image); });
    if (pid < 0) {
        auto error = setup_error::from_errno(errno, {"fork"});
        pipes.close_all();
        return error;
    }
    pipes.keep_read_ends();
    r.pid = pid;
    r.alive = true;
    r.result_fd = pipes.read_end(0);
    r.log_fd = pipes.read_end(1);
    r.out.label = l.label;
    return {};
}

// Reads what is there now; closes the descriptor at EOF.
void drain(int& fd, std::string& into, bool tail_only) {
    char buf[16384];
    while (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return; // EAGAIN: nothing more for now
        if (n == 0) {
            close(fd);
            fd = -1;
            return;
        }
        into.append(buf, static_cast<std::size_t>(n));
        if (tail_only && into.size() > 2 * log_tail_bytes) into.erase(0, into.size() - log_tail_bytes);
    }
}

void kill_all(std::vector<running>& procs) {
    for (auto& p : procs)
        if (p.alive) tools::kill_group(p.pid);
}

void reap(std::vector<running>& procs, bool block_bounded) {
    std::vector<pid_t> pids;
    pids.reserve(procs.size());
    for (const auto& p : procs) pids.push_back(p.alive ? p.pid : -1);
    tools::reap_within(pids, block_bounded ? reap_bound_ns : 0, [&](std::size_t i, const tools::child_status& s) {
        // A lost child (not ours any more) has nothing left to wait for; it stays unreaped.
        procs[i].alive = false;
        if (s.state == tools::child_state::reaped) {
            procs[i].out.reaped = true;
            procs[i].out.wait_status = s.wait_status;
        }
    });
}

} // namespace

bool process_outcome::succeeded() const noexcept { return reaped && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0; }

std::string process_outcome::describe() const {
    if (!start_error.empty()) return "cannot start " + label + ": " + start_error;
    if (!reaped) return label + " could not be reaped";
    if (WIFEXITED(wait_status)) {
        int code = WEXITSTATUS(wait_status);
        switch (code) {
        case 0: return label + " exited 0";
        case exit_no_descriptors: return label + " could not set up its descriptors";
        case exit_not_pinned: return label + " could not be pinned (sched_setaffinity)";
        case exit_orphaned: return label + " lost its parent before starting";
        case 127: return label + " could not execute /proc/self/exe";
        default: return label + " exited " + std::to_string(code);
        }
    }
    if (WIFSIGNALED(wait_status))
        return label + " killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" + strsignal(WTERMSIG(wait_status)) +
               ")";
    return label + " ended with status " + std::to_string(wait_status);
}

bool interrupted() noexcept { return interrupt_flag != 0; }

void install_interrupt_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    // A node's pipe closing under the driver must be an error code, not the driver's death.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, nullptr);
}

group_outcome run_group(const std::vector<launch>& group, int cpu, double timeout_s) {
    group_outcome g;
    std::vector<running> procs(group.size());
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_s * 1e9);
    bool started = true;
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (auto spawned = spawn(procs[i], group[i], cpu); !spawned) {
            procs[i].out.label = group[i].label;
            procs[i].out.start_error = spawned.error().message;
            // The processes after it were never tried: they are not part of the outcome, only the
            // ones started (killed below) and the one that could not be.
            procs.resize(i + 1);
            started = false;
            break;
        }
    }
    std::uint64_t kill_at = started ? deadline : 0;
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<std::pair<std::size_t, bool>> owner; // process, is-result-pipe
        for (std::size_t i = 0; i < procs.size(); ++i) {
            if (procs[i].result_fd >= 0) {
                fds.push_back({procs[i].result_fd, POLLIN, 0});
                owner.push_back({i, true});
            }
            if (procs[i].log_fd >= 0) {
                fds.push_back({procs[i].log_fd, POLLIN, 0});
                owner.push_back({i, false});
            }
        }
        bool any_alive = std::any_of(procs.begin(), procs.end(), [](const running& p) { return p.alive; });
        if (!any_alive && fds.empty()) break;
        if (interrupted()) {
            g.interrupted = true;
            break;
        }
        if (now_ns() >= kill_at) {
            g.timed_out = started && kill_at == deadline;
            break;
        }
        int n = poll(fds.data(), fds.size(), 50);
        if (n < 0 && errno != EINTR) break;
        for (std::size_t k = 0; n > 0 && k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            running& p = procs[owner[k].first];
            if (owner[k].second)
                drain(p.result_fd, p.out.results, false);
            else
                drain(p.log_fd, p.out.log, true);
        }
        reap(procs, false);
        // A process that exited leaves its pipes readable until drained; one that failed makes the
        // rest of its cluster pointless, so they get a short grace to report and are then ended.
        for (auto& p : procs) {
            if (p.alive || !p.out.reaped || p.out.succeeded()) continue;
            kill_at = std::min(kill_at, now_ns() + failure_grace_ns);
        }
        // The first process measures; once it is done the others only have their last words left.
        if (!procs.empty() && !procs[0].alive && procs[0].out.succeeded())
            kill_at = std::min(kill_at, now_ns() + finish_grace_ns);
        // Exited processes whose pipes are still open because a descendant holds them are not
        // waited for.
        for (auto& p : procs) {
            if (p.alive) continue;
            drain(p.result_fd, p.out.results, false);
            drain(p.log_fd, p.out.log, true);
            if (p.result_fd >= 0) {
                close(p.result_fd);
                p.result_fd = -1;
            }
            if (p.log_fd >= 0) {
                close(p.log_fd);
                p.log_fd = -1;
            }
        }
    }
    kill_all(procs);
    reap(procs, true);
    for (auto& p : procs) {
        drain(p.result_fd, p.out.results, false);
        drain(p.log_fd, p.out.log, true);
        if (p.result_fd >= 0) close(p.result_fd);
        if (p.log_fd >= 0) close(p.log_fd);
        if (p.out.log.size() > log_tail_bytes) p.out.log.erase(0, p.out.log.size() - log_tail_bytes);
        g.processes.push_back(std::move(p.out));
    }
    return g;
}

} // namespace aether::bench
