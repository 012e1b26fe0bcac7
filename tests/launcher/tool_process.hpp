// Runs a tool's binary (aether-run, aether-bench) as a child process with its output captured,
// for the end-to-end tests of the tools.
#pragma once
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace aether::test {

// The tool binary the environment variable `var` names (meson test sets it for each test).
inline std::string tool_path(const char* var) {
    const char* p = std::getenv(var);
    if (p == nullptr || *p == '\0') FAIL(var << " must name the tool's binary (meson test sets it)");
    return p;
}

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

struct run_result {
    int exit_code = -1; // -1 if the tool itself was killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
    double seconds = 0;
};

// One process of a tool with its stdout and stderr captured.
class tool_process {
public:
    tool_process(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& extra_env = {})
        : binary_(binary) {
        // Variables the tools react to are cleared so that the outer environment cannot change
        // what is being tested.
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            std::string entry(*e);
            std::string name = entry.substr(0, entry.find('='));
            if (name.rfind("AETHER_", 0) == 0 || extra_env.count(name) != 0) continue;
            env.push_back(entry);
        }
        for (const auto& [k, v] : extra_env) env.push_back(k + "=" + v);

        std::vector<std::string> argv_s{binary};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<char*> envp;
        for (auto& e : env) envp.push_back(e.data());
        envp.push_back(nullptr);

        int out_pipe[2];
        int err_pipe[2];
        REQUIRE(pipe2(out_pipe, O_CLOEXEC) == 0);
        REQUIRE(pipe2(err_pipe, O_CLOEXEC) == 0);
        start_ = clock_type::now();
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            // Default dispositions and an empty mask, whatever the test runner left us: the SIGINT
            // test needs the tool to see SIGINT.
            for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(sig, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, STDIN_FILENO);
            dup2(out_pipe[1], STDOUT_FILENO);
            dup2(err_pipe[1], STDERR_FILENO);
            execve(argv[0], argv.data(), envp.data());
            _exit(126);
        }
        close(out_pipe[1]);
        close(err_pipe[1]);
        out_fd_ = out_pipe[0];
        err_fd_ = err_pipe[0];
    }

    ~tool_process() {
        if (pid_ > 0 && !reaped_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_fd_ >= 0) close(out_fd_);
        if (err_fd_ >= 0) close(err_fd_);
    }

    tool_process(const tool_process&) = delete;
    tool_process& operator=(const tool_process&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

    // Stops reading the tool's stdout, as "| head" would.
    void close_stdout() {
        if (out_fd_ >= 0) close(out_fd_);
        out_fd_ = -1;
    }
    [[nodiscard]] const std::string& out() const { return result_.out; }

    // Collects output until pred holds; false if the output ended or limit_s passed first.
    bool wait_for(const std::function<bool()>& pred, double limit_s) {
        auto start = clock_type::now();
        while (!pred()) {
            double left = limit_s - seconds_since(start);
            if (left <= 0 || (out_fd_ < 0 && err_fd_ < 0)) return false;
            pump(static_cast<int>(left * 1000) + 1);
        }
        return true;
    }

    // Reads to the end and reaps the tool; kills it if it takes longer than limit_s.
    run_result finish(double limit_s = 20) {
        auto start = clock_type::now();
        while (out_fd_ >= 0 || err_fd_ >= 0) {
            double left = limit_s - seconds_since(start);
            if (left <= 0) {
                kill(pid_, SIGKILL);
                FAIL(binary_ << " did not finish within " << limit_s << " s; output so far:\n" << result_.out << result_.err);
            }
            pump(static_cast<int>(left * 1000) + 1);
        }
        int status = 0;
        REQUIRE(waitpid(pid_, &status, 0) == pid_);
        reaped_ = true;
        result_.seconds = seconds_since(start_);
        if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) result_.signal = WTERMSIG(status);
        return result_;
    }

private:
    void pump(int timeout_ms) {
        pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
        int r = poll(fds, 2, timeout_ms);
        if (r <= 0) return;
        read_some(out_fd_, fds[0].revents, result_.out);
        read_some(err_fd_, fds[1].revents, result_.err);
    }

    static void read_some(int& fd, short revents, std::string& into) {
        if (fd < 0 || revents == 0) return;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            into.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            close(fd);
            fd = -1;
        }
    }

    std::string binary_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    int out_fd_ = -1;
    int err_fd_ = -1;
    clock_type::time_point start_;
    run_result result_;
};

} // namespace aether::test
