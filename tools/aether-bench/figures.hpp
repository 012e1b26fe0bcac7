// The figures aether-bench measures: which processes each needs, with what settings, what its ratio
// is taken against, and which of the runtime's counters prove that it measured what it claims.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace aether::bench {

struct settings {
    std::size_t ops = 20'000;   // timed operations of each latency figure
    std::size_t warmup = 1'000; // untimed operations before them
    std::size_t stream_bytes = std::size_t{1} << 30;
    std::size_t stream_reps = 3;
    std::size_t scan_bytes = std::size_t{256} << 20;
    std::size_t resident_bytes = std::size_t{64} << 20;
    std::size_t resident_reps = 21;
    std::size_t scale_small_pages = 1024;
    std::size_t scale_large_pages = std::size_t{1} << 20;
};

// A counter delta a figure must show, as a multiple of its timed operations. Node 0 is the measuring
// node (its counters cover exactly the timed operations); other nodes' cover the measuring window.
struct expectation {
    std::string row_prefix; // rows it applies to ("" = every row of the figure)
    int node = 0;
    std::string counter;
    double per_op = 0;
};

struct figure {
    std::string name;              // unique row name for --only and the table
    std::string family;            // the figure it belongs to (e.g. fault_read_remote_4K for both fault modes)
    std::string mode;              // fault mode the nodes run in, or "" where it does not matter
    std::string role;              // node role the Aether nodes run (a TCP floor's pair is always tcp_client/tcp_server)
    int nodes = 0;                 // Aether nodes; 0: a raw TCP client/server pair
    std::vector<std::string> args; // role parameters (key=value)
    std::vector<std::string> env;  // AETHER_* settings of every node
    std::string floor;             // the floor figure its median is divided by, or ""
    std::vector<expectation> expect;
    double timeout_s = 120;
};

std::vector<figure> catalogue(const settings& s);

} // namespace aether::bench
