// RDMA verbs devices visible to this process (rdma-core). Built from device_probe.cpp when the
// `rdma` feature is enabled and from device_probe_absent.cpp otherwise.
#pragma once
#include "aether/internal/guard.hpp"

#include <string>
#include <vector>

namespace aether::rdma {

struct device_info {
    std::string name;      // e.g. "rxe0"
    std::string node_guid; // hex
    std::string transport; // "InfiniBand", "iWARP", ...
    int port_count = 0;
    int active_ports = 0;
};

struct probe_result {
    bool built = false; // the library was built with rdma-core
    std::vector<device_info> devices;
    std::string error; // why the device list could not be read
};

probe_result probe_devices() noexcept;

} // namespace aether::rdma
