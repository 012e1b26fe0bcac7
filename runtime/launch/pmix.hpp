// Launch by a process manager that speaks PMIx (Open MPI's mpirun, Slurm's srun --mpi=pmix):
// a node learns its id, the cluster's size and its peers' addresses from the PMIx server, with no
// AETHER_* variables. See README, "Launch with mpirun or srun".
#pragma once
#include "aether/internal/guard.hpp"

#include "runtime/config.hpp"

#include <optional>
#include <string>

namespace aether::launch {

// Whether this build can use a PMIx server (meson feature `pmix`, libpmix from Debian).
bool pmix_built() noexcept;

// Whether this process was started by a PMIx server: it passes PMIX_NAMESPACE and PMIX_RANK.
bool under_pmix() noexcept;

// The cluster as the PMIx server describes it. Node id = the process's rank in its job, node
// count = the job's size. Each node listens on a port of its own choosing (on loopback when the
// whole job runs on this host, on every interface otherwise) and publishes it with its interface
// addresses (endpoint.hpp); after a fence every node picks an address for each peer. The cluster
// secret is AETHER_SECRET when set, otherwise made by rank 0 and handed out through the same
// fence: the PMIx server is the job's own and serves only its processes. Optional settings come
// from apply_optional_env. The listening socket is runtime_config::listen_fd. Blocks until every
// process of the job has got this far, at most 60 s (or the operation timeout, if longer).
setup_result<runtime_config> config_from_pmix();

// Whether seraph_aether_init_from_env (and the preload library) take the cluster from the PMIx
// server: when the process runs under one and AETHER_NODE_ID is not set. An explicit AETHER_NODE_ID
// means the AETHER_* environment describes the cluster, as with aether-run.
bool use_pmix() noexcept;

} // namespace aether::launch
