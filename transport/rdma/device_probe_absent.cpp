// RDMA device probe for builds without rdma-core: reports that the backend was not built.
#include "transport/rdma/device_probe.hpp"

namespace aether::rdma {

probe_result probe_devices() noexcept {
    probe_result r;
    r.built = false;
    r.error = "built without RDMA support (meson -Drdma=enabled needs rdma-core)";
    return r;
}

} // namespace aether::rdma
