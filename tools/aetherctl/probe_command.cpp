// `aetherctl probe`: runs the userfaultfd, io_uring and RDMA probes and reports what the runtime needs.
#include "probe_command.hpp"

#include "aether_config.h"
#include "fault/uffd_probe.hpp"
#include "json_writer.hpp"
#include "transport/rdma/device_probe.hpp"
#include "transport/uring_probe.hpp"

#include <linux/userfaultfd.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aetherctl {
namespace {

struct probe_facts {
    aether::fault::uffd_capabilities uffd;
    aether::uring_capabilities uring;
    aether::rdma::probe_result rdma;
    std::vector<std::string> handler_missing;
    std::vector<std::string> sigbus_missing;
    std::vector<std::string> transport_missing;

    [[nodiscard]] bool ready() const { return handler_missing.empty() && transport_missing.empty(); }
};

probe_facts gather() {
    probe_facts f;
    f.uffd = aether::fault::probe_uffd();
    f.uring = aether::probe_uring();
    f.rdma = aether::rdma::probe_devices();
    f.handler_missing = aether::fault::missing_for_handler_mode(f.uffd);
    f.sigbus_missing = aether::fault::missing_for_sigbus_mode(f.uffd);
    f.transport_missing = aether::missing_for_transport(f.uring);
    return f;
}

std::vector<std::string> split_names(const std::string& joined) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < joined.size()) {
        std::size_t bar = joined.find('|', start);
        if (bar == std::string::npos) bar = joined.size();
        out.push_back(joined.substr(start, bar - start));
        start = bar + 1;
    }
    return out;
}

std::string or_none(const std::string& s) { return s.empty() ? "(none)" : s; }

int active_devices(const aether::rdma::probe_result& r) {
    int n = 0;
    for (const auto& d : r.devices)
        if (d.active_ports > 0) ++n;
    return n;
}

// ---- the readable report -----------------------------------------------------------------------

class report {
public:
    explicit report(std::ostream& out)
        : out_(out) {}
    void section(std::string_view title) {
        if (!first_) out_ << '\n';
        first_ = false;
        out_ << title << '\n';
    }
    void ok(std::string_view text) { line("ok", text); }
    void missing(std::string_view text) { line("missing", text); }
    void info(std::string_view text) { line("info", text); }
    // [ok] when present; otherwise [missing] if the runtime needs it, [info] if it can do without.
    void check(bool present, bool needed, std::string_view text, std::string_view absent_text) {
        if (present)
            ok(text);
        else if (needed)
            missing(absent_text);
        else
            info(absent_text);
    }
    void mode(std::string_view name, const std::vector<std::string>& missing_items) {
        if (missing_items.empty()) {
            out_ << "  " << name << ": ready\n";
            return;
        }
        out_ << "  " << name << ": not ready\n";
        for (const auto& m : missing_items) out_ << "    - " << m << '\n';
    }
    void plain(std::string_view text) { out_ << "  " << text << '\n'; }

private:
    void line(std::string_view tag, std::string_view text) { out_ << "  [" << tag << "] " << text << '\n'; }
    std::ostream& out_;
    bool first_ = true;
};

void report_uffd(report& r, const aether::fault::uffd_capabilities& c) {
    using aether::fault::feature_names;
    using aether::fault::ioctl_names;
    r.section("userfaultfd");
    bool kernel_faults = c.dev_userfaultfd || c.syscall_kernel_faults;
    bool any = kernel_faults || c.syscall_user_only;
    r.check(c.dev_userfaultfd, !kernel_faults,
            "/dev/userfaultfd opens: faults raised inside system calls can be served (handler mode)",
            "/dev/userfaultfd cannot be opened (needs root or an ACL on it)");
    r.check(c.syscall_kernel_faults, !kernel_faults,
            "userfaultfd(2) without UFFD_USER_MODE_ONLY works: serves faults raised inside system calls",
            "userfaultfd(2) without UFFD_USER_MODE_ONLY is refused (vm.unprivileged_userfaultfd=0 "
            "and no CAP_SYS_PTRACE)");
    r.check(c.syscall_user_only, !any, "userfaultfd(2) with UFFD_USER_MODE_ONLY works (enough for sigbus mode)",
            "userfaultfd(2) with UFFD_USER_MODE_ONLY is refused");
    r.info(c.unprivileged_sysctl < 0 ? std::string("vm.unprivileged_userfaultfd is unreadable")
                                     : "vm.unprivileged_userfaultfd = " + std::to_string(c.unprivileged_sysctl));
    if (!any) {
        if (!c.error.empty()) r.info("first failure: " + c.error);
        return;
    }
    r.info("features offered by UFFDIO_API: " + or_none(feature_names(c.api_features)));
    r.check(c.api_features & UFFD_FEATURE_PAGEFAULT_FLAG_WP, true,
            "UFFD_FEATURE_PAGEFAULT_FLAG_WP: write-protect faults (both modes)",
            "UFFD_FEATURE_PAGEFAULT_FLAG_WP: write-protect faults (both modes) are not offered");
    r.check(c.api_features & UFFD_FEATURE_THREAD_ID, true, "UFFD_FEATURE_THREAD_ID: the faulting thread is reported (both modes)",
            "UFFD_FEATURE_THREAD_ID: the faulting thread (both modes) is not reported");
    r.check(c.api_features & UFFD_FEATURE_SIGBUS, true, "UFFD_FEATURE_SIGBUS: faults as SIGBUS (sigbus mode)",
            "UFFD_FEATURE_SIGBUS: faults as SIGBUS (sigbus mode) are not offered");
    r.check(c.register_missing_wp, true, "UFFDIO_REGISTER with MISSING|WP on anonymous memory succeeds",
            "UFFDIO_REGISTER with MISSING|WP on anonymous memory fails");
    if (c.register_missing_wp) {
        r.info("ioctls granted by that registration: " + or_none(ioctl_names(c.register_ioctls)));
        auto granted = [&c](unsigned nr) { return (c.register_ioctls & (1ull << nr)) != 0; };
        r.check(granted(_UFFDIO_COPY), true, "UFFDIO_COPY: fills missing pages (with MODE_WP)", "UFFDIO_COPY is not granted");
        r.check(granted(_UFFDIO_WAKE), true, "UFFDIO_WAKE: wakes faulting threads", "UFFDIO_WAKE is not granted");
        r.check(granted(_UFFDIO_WRITEPROTECT), true, "UFFDIO_WRITEPROTECT: write-protects pages",
                "UFFDIO_WRITEPROTECT is not granted");
    }
    if (!c.error.empty()) r.info("first failure met: " + c.error);
}

void report_uring(report& r, const aether::uring_capabilities& c) {
    r.section("io_uring");
    r.info(c.io_uring_disabled_sysctl < 0 ? std::string("kernel.io_uring_disabled is unreadable (kernels before 6.6 lack it)")
                                          : "kernel.io_uring_disabled = " + std::to_string(c.io_uring_disabled_sysctl));
    if (!c.ring_created) {
        r.missing(std::string("an io_uring ring cannot be created: ") + std::strerror(-c.ring_error));
        return;
    }
    r.ok("a plain ring is created; features: " + or_none(aether::uring_feature_names(c.features)));
    r.check(c.single_issuer_defer_taskrun, false, "IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN accepted",
            "IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN refused (Linux 6.1+): the transport falls back "
            "to a plain ring");
    for (const auto& op : c.opcodes) {
        std::string name = "IORING_OP_" + op.name;
        const std::string kind = op.required ? " (required)" : " (optional)";
        std::string missing = name;
        missing += " is not supported";
        missing += kind;
        r.check(op.supported, op.required, name + kind, missing);
    }
    r.check(c.multishot_accept, true, "multishot accept delivers connections on a loopback listener",
            "multishot accept did not deliver a connection on a loopback listener (Linux 5.19+)");
}

void report_rdma(report& r, const aether::rdma::probe_result& p) {
    r.section("RDMA");
    if (!p.built) {
        r.info(p.error);
        return;
    }
    r.info("built with rdma-core (libibverbs)");
    for (const auto& d : p.devices) {
        std::string text = d.name + ": " + d.transport + ", node GUID " + d.node_guid + ", " + std::to_string(d.port_count) +
                           " port(s), " + std::to_string(d.active_ports) + " active";
        if (d.active_ports > 0)
            r.ok(text);
        else
            r.info(text);
    }
    if (p.devices.empty())
        r.info("no devices: " + p.error);
    else if (!p.error.empty())
        r.info("first failure met: " + p.error);
}

void print_report(std::ostream& out, const probe_facts& f) {
    report r(out);
    report_uffd(r, f.uffd);
    report_uring(r, f.uring);
    report_rdma(r, f.rdma);

    r.section("summary");
    r.mode("handler mode", f.handler_missing);
    r.mode("sigbus mode", f.sigbus_missing);
    r.mode("TCP transport", f.transport_missing);
    if (!f.rdma.built) {
        r.plain("RDMA transport: not built");
    } else if (f.rdma.devices.empty()) {
        r.plain("RDMA transport: no devices; " + f.rdma.error);
    } else {
        r.plain("RDMA transport: " + std::to_string(f.rdma.devices.size()) + " device(s), " +
                std::to_string(active_devices(f.rdma)) + " with an active port");
    }
}

// ---- JSON --------------------------------------------------------------------------------------

void names_array(json_writer& j, std::string_view k, const std::string& joined) {
    j.key(k).begin_array();
    for (const auto& n : split_names(joined)) j.value(n);
    j.end_array();
}

void mode_object(json_writer& j, std::string_view k, const std::vector<std::string>& missing) {
    j.key(k).begin_object();
    j.field("ready", missing.empty());
    j.key("missing").begin_array();
    for (const auto& m : missing) j.value(m);
    j.end_array();
    j.end_object();
}

void print_json(std::ostream& out, const probe_facts& f) {
    json_writer j(out);
    j.begin_object();
    j.field("aetherctl_version", AETHER_VERSION);

    const auto& u = f.uffd;
    j.key("userfaultfd").begin_object();
    j.field("dev_userfaultfd", u.dev_userfaultfd);
    j.field("syscall_kernel_faults", u.syscall_kernel_faults);
    j.field("syscall_user_only", u.syscall_user_only);
    j.field("unprivileged_sysctl", u.unprivileged_sysctl);
    j.field("api_features", u.api_features);
    names_array(j, "api_feature_names", aether::fault::feature_names(u.api_features));
    j.field("register_missing_wp", u.register_missing_wp);
    j.field("register_ioctls", u.register_ioctls);
    names_array(j, "register_ioctl_names", aether::fault::ioctl_names(u.register_ioctls));
    j.field("error", u.error);
    j.end_object();

    const auto& c = f.uring;
    j.key("io_uring").begin_object();
    j.field("io_uring_disabled_sysctl", c.io_uring_disabled_sysctl);
    j.field("ring_created", c.ring_created);
    j.field("ring_error", c.ring_error);
    j.field("features", c.features);
    names_array(j, "feature_names", aether::uring_feature_names(c.features));
    j.field("single_issuer_defer_taskrun", c.single_issuer_defer_taskrun);
    j.field("multishot_accept", c.multishot_accept);
    j.key("opcodes").begin_array();
    for (const auto& op : c.opcodes) {
        j.begin_object();
        j.field("name", op.name);
        j.field("supported", op.supported);
        j.field("required", op.required);
        j.end_object();
    }
    j.end_array();
    j.end_object();

    j.key("rdma").begin_object();
    j.field("built", f.rdma.built);
    j.key("devices").begin_array();
    for (const auto& d : f.rdma.devices) {
        j.begin_object();
        j.field("name", d.name);
        j.field("node_guid", d.node_guid);
        j.field("transport", d.transport);
        j.field("port_count", d.port_count);
        j.field("active_ports", d.active_ports);
        j.end_object();
    }
    j.end_array();
    j.field("error", f.rdma.error);
    j.end_object();

    j.key("summary").begin_object();
    mode_object(j, "handler_mode", f.handler_missing);
    mode_object(j, "sigbus_mode", f.sigbus_missing);
    mode_object(j, "tcp_transport", f.transport_missing);
    j.field("rdma_devices", f.rdma.devices.size());
    j.field("rdma_devices_active", active_devices(f.rdma));
    j.field("ready", f.ready());
    j.end_object();

    j.end_object();
}

} // namespace

void add_probe_command(CLI::App& app, int& status) {
    CLI::App* probe =
        app.add_subcommand("probe", "Check the kernel features the runtime needs (userfaultfd, io_uring, RDMA devices)");
    // Owned by the callback, which CLI11 keeps for the life of the app.
    auto json = std::make_shared<bool>(false);
    probe->add_flag("--json", *json, "Print the findings as one JSON object");
    probe->callback([json, &status] {
        probe_facts f = gather();
        if (*json)
            print_json(std::cout, f);
        else
            print_report(std::cout, f);
        std::cout.flush();
        status = f.ready() ? 0 : 1;
    });
}

} // namespace aetherctl
