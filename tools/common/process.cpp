// Starting, killing and reaping node processes.
#include "tools/common/process.hpp"

#include "aether/internal/clock.hpp"

#include <fcntl.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace aether::tools {

exec_args::exec_args(std::vector<std::string> args, std::vector<std::string> env)
    : args_(std::move(args)),
      env_(std::move(env)) {
    // The strings are in their final place now, so pointers into them stay valid.
    for (auto& a : args_) argv_.push_back(a.data());
    argv_.push_back(nullptr);
    for (auto& e : env_) envp_.push_back(e.data());
    envp_.push_back(nullptr);
}

setup_result<void> child_pipes::open() {
    for (auto& p : fds_) {
        if (pipe2(p, O_CLOEXEC) != 0) {
            auto error = setup_error::from_errno(errno, {"pipe"});
            close_all();
            return error;
        }
    }
    return {};
}

void child_pipes::keep_read_ends() noexcept {
    for (auto& p : fds_) {
        close(p[1]);
        p[1] = -1;
        fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    }
}

void child_pipes::close_all() noexcept {
    for (auto& p : fds_)
        for (int& fd : p) {
            if (fd >= 0) close(fd);
            fd = -1;
        }
}

void kill_group(pid_t pid) noexcept {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

child_status try_reap(pid_t pid) noexcept {
    child_status s;
    int status = 0;
    pid_t got;
    do {
        got = waitpid(pid, &status, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == pid) {
        s.state = child_state::reaped;
        s.wait_status = status;
    } else if (got < 0) {
        s.state = child_state::lost;
        s.error = errno;
    }
    return s;
}

bool reap_within(const std::vector<pid_t>& pids, std::uint64_t bound_ns,
                 const std::function<void(std::size_t, const child_status&)>& ended) {
    const std::uint64_t until = aether::now_ns() + bound_ns;
    std::vector<bool> waiting(pids.size());
    for (std::size_t i = 0; i < pids.size(); ++i) waiting[i] = pids[i] > 0;
    for (;;) {
        bool any_running = false;
        for (std::size_t i = 0; i < pids.size(); ++i) {
            if (!waiting[i]) continue;
            child_status s = try_reap(pids[i]);
            if (s.state == child_state::running) {
                any_running = true;
                continue;
            }
            waiting[i] = false;
            ended(i, s);
        }
        if (!any_running) return true;
        if (aether::now_ns() >= until) return false;
        usleep(10'000);
    }
}

} // namespace aether::tools
