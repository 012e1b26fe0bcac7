// RDMA verbs devices seen through libibverbs (compiled only when meson found rdma-core).
#include "transport/rdma/device_probe.hpp"

#include <endian.h>
#include <infiniband/verbs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace aether::rdma {
namespace {

const char* transport_name(ibv_transport_type t) noexcept {
    switch (t) {
    case IBV_TRANSPORT_IB: return "InfiniBand";
    case IBV_TRANSPORT_IWARP: return "iWARP";
    case IBV_TRANSPORT_USNIC: return "usNIC";
    case IBV_TRANSPORT_USNIC_UDP: return "usNIC UDP";
    case IBV_TRANSPORT_UNSPECIFIED: return "unspecified";
    default: return "unknown";
    }
}

// The grouping ibv_devinfo prints, so the two can be compared by eye.
std::string guid_text(__be64 guid) {
    unsigned long long host = be64toh(guid);
    char buf[24];
    std::snprintf(buf, sizeof buf, "%04llx:%04llx:%04llx:%04llx", (host >> 48) & 0xffff, (host >> 32) & 0xffff,
                  (host >> 16) & 0xffff, host & 0xffff);
    return buf;
}

// Ports are numbered from 1. RoCE devices report the InfiniBand transport with an Ethernet link
// layer, which is worth telling apart.
void query_ports(ibv_context* ctx, device_info& info) {
    ibv_device_attr attr{};
    if (ibv_query_device(ctx, &attr) != 0) return;
    info.port_count = attr.phys_port_cnt;
    bool ethernet = false;
    for (int port = 1; port <= info.port_count; ++port) {
        ibv_port_attr pattr{};
        if (ibv_query_port(ctx, static_cast<std::uint8_t>(port), &pattr) != 0) continue;
        if (pattr.state == IBV_PORT_ACTIVE) ++info.active_ports;
        if (pattr.link_layer == IBV_LINK_LAYER_ETHERNET) ethernet = true;
    }
    if (ethernet && info.transport == "InfiniBand") info.transport = "InfiniBand (RoCE)";
}

} // namespace

probe_result probe_devices() noexcept {
    probe_result r;
    r.built = true;
    int count = 0;
    errno = 0;
    ibv_device** list = ibv_get_device_list(&count);
    if (list == nullptr) {
        int err = errno;
        // rdma-core says ENOSYS when the kernel exposes no verbs devices class at all.
        if (err == ENOSYS) r.error = "no RDMA support in the running kernel (is ib_uverbs loaded?): ";
        r.error += std::string("ibv_get_device_list: ") + (err != 0 ? std::strerror(err) : "failed");
        return r;
    }
    if (count == 0) {
        r.error = "no RDMA devices found";
        ibv_free_device_list(list);
        return r;
    }
    for (int i = 0; i < count; ++i) {
        ibv_device* dev = list[i];
        device_info info;
        info.name = ibv_get_device_name(dev);
        info.node_guid = guid_text(ibv_get_device_guid(dev));
        info.transport = transport_name(dev->transport_type);
        if (ibv_context* ctx = ibv_open_device(dev)) {
            query_ports(ctx, info);
            ibv_close_device(ctx);
        } else if (r.error.empty()) {
            r.error = "open " + info.name + ": " + std::strerror(errno);
        }
        r.devices.push_back(std::move(info));
    }
    ibv_free_device_list(list);
    return r;
}

} // namespace aether::rdma
