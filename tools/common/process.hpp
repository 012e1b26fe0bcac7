// Starting, killing and reaping node processes, the way aether-run and aether-bench both do it: each
// node leads a process group of its own and dies with the tool that started it.
#pragma once

#include "aether/internal/result.hpp"

#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace aether::tools {

// A program's argument and environment vectors as exec wants them. Built before fork(), so that the
// child has nothing left to allocate and only makes system calls. The pointers point into the
// strings held here, hence neither copied nor moved.
class exec_args {
public:
    exec_args(std::vector<std::string> args, std::vector<std::string> env);
    exec_args(const exec_args&) = delete;
    exec_args& operator=(const exec_args&) = delete;

    [[nodiscard]] const char* file() const noexcept { return argv_.front(); }
    [[nodiscard]] char* const* argv() const noexcept { return argv_.data(); }
    [[nodiscard]] char* const* envp() const noexcept { return envp_.data(); }

private:
    std::vector<std::string> args_;
    std::vector<std::string> env_;
    std::vector<char*> argv_;
    std::vector<char*> envp_;
};

// Two pipes from a child to this process (its output, its results...), made before fork() and
// close-on-exec, so that no other child holds an end: a leaked write end would keep a pipe open
// and hide the child's end of output. After a fork, keep_read_ends() closes the write ends here and
// makes the read ends non-blocking (they then belong to the caller); after a failed fork,
// close_all().
class child_pipes {
public:
    child_pipes() = default;
    child_pipes(const child_pipes&) = delete;
    child_pipes& operator=(const child_pipes&) = delete;

    // Makes both pipes; an error ("pipe: <reason>") when one cannot be made (none is left open).
    setup_result<void> open();
    [[nodiscard]] int read_end(int which) const noexcept { return fds_[which][0]; }
    [[nodiscard]] int write_end(int which) const noexcept { return fds_[which][1]; }
    void keep_read_ends() noexcept;
    void close_all() noexcept;

private:
    int fds_[2][2] = {{-1, -1}, {-1, -1}};
};

// Forks a child that leads a process group of its own, so that kill_group() reaches whatever it
// starts as well, and that is SIGKILLed when this process dies. The child then runs `in_child`, which
// must end in an exec or _exit() and may only make async-signal-safe calls; should it return, the
// child exits 127. A child that finds this process already gone exits `orphaned_status` instead.
// Returns the child's pid, or -1 with errno as fork() set it.
template <typename InChild>
pid_t fork_in_own_group(int orphaned_status, InChild&& in_child) {
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        // The getppid() check covers a parent that died before prctl() took effect, whose death
        // signal would never come.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(orphaned_status);
        in_child();
        _exit(127);
    }
    // Also from this side: a kill of the group issued before the child ran setpgid() would miss it.
    // Once the child has exec'd this fails with EACCES, and by then the child did it itself.
    if (pid > 0) setpgid(pid, pid);
    return pid;
}

// SIGKILL to the group `pid` leads and to `pid` itself, which still dies if it moved to another
// group. Only for a child not reaped yet: once its group is empty, the id may be reused by an
// unrelated group.
void kill_group(pid_t pid) noexcept;

enum class child_state { running, reaped, lost };

struct child_status {
    child_state state = child_state::running;
    int wait_status = 0; // reaped: as waitpid() reported it
    int error = 0;       // lost: waitpid()'s errno (ECHILD: not a child of this process)
};

// One waitpid(pid, WNOHANG), retried on EINTR.
child_status try_reap(pid_t pid) noexcept;

// Reaps the children in `pids` (entries <= 0 are skipped) as they end, checking every 10 ms for at
// most `bound_ns`; 0 checks once without waiting. A killed process can take a while to go (one in
// an uninterruptible sleep, say), and the tools must still finish and report, hence the bound.
// `ended(i, status)` is called once for each pids[i] that was reaped or lost. Returns whether no
// child is left running.
bool reap_within(const std::vector<pid_t>& pids, std::uint64_t bound_ns,
                 const std::function<void(std::size_t, const child_status&)>& ended);

} // namespace aether::tools
