// Starting the processes of one figure, collecting what they report, and ending them by a deadline:
// the driver never waits on a node without a bound.
#pragma once

#include <string>
#include <vector>

namespace aether::bench {

struct launch {
    std::string label;             // "node 0", "tcp server" ...
    std::vector<std::string> args; // the node role's arguments (after __node)
    std::vector<std::string> env;  // the complete environment
    int inherit_listen_fd = -1;    // a listening socket, handed to the child as AETHER_LISTEN_FD
};

struct process_outcome {
    std::string label;
    std::string start_error; // why it could not be started ("fork: ..."), or "" once it was
    bool reaped = false;
    int wait_status = 0;
    std::string results; // everything written on the result pipe
    std::string log;     // the tail of stdout and stderr
    [[nodiscard]] bool succeeded() const noexcept;
    [[nodiscard]] std::string describe() const;
};

struct group_outcome {
    bool timed_out = false;
    bool interrupted = false;
    std::vector<process_outcome> processes;
};

// Runs the group; every process is pinned to `cpu` when cpu >= 0 (before exec, so the runtime's
// threads inherit it). When one process fails the others are given a moment to report and are then
// killed, instead of waiting for their own deadlines.
group_outcome run_group(const std::vector<launch>& group, int cpu, double timeout_s);

// Set by SIGINT/SIGTERM: the current group is killed and no further figure starts.
bool interrupted() noexcept;
void install_interrupt_handlers();

} // namespace aether::bench
