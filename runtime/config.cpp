// Parsing of the AETHER_* environment and of the cluster file it may name (AETHER_CONFIG).
#include "runtime/config.hpp"

#include "runtime/admin/admin_path.hpp"

#include "runtime/config_file.hpp"

#include "aether/internal/log.hpp"
#include "transport/wire.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace aether {

namespace {

std::optional<std::uint64_t> parse_uint(const std::string& s) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v != nullptr && *v != '\0') ? v : nullptr;
}

// The text of a "host:port" as the nodes' addresses are written: a host (a name, an IPv4 address,
// or an IPv6 address in brackets) without blanks, a colon, and a port from 1 to 65535. Whether the
// host resolves is not asked here: a peer's host may not be up yet (peers.hpp).
// `port_zero`: port 0 (any free port) is allowed too.
bool is_host_port(const std::string& item, bool port_zero = false) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || item.find_first_of(" \t") != std::string::npos) return false;
    const auto port = parse_uint(item.substr(colon + 1));
    return port && (*port > 0 || port_zero) && *port < 65536;
}

// What each setting accepts. One function judges a setting's text whether it comes from an
// AETHER_* variable or from the cluster file: its error says what is wrong ("must be ..., not
// \"x\""), and the caller puts the variable's name or the file's line and key in front.
using judgement = setup_result<void>;

// A whole number of `unit` in [lo, hi].
setup_result<std::uint64_t> number(const std::string& text, std::uint64_t lo, std::uint64_t hi, const char* unit) {
    auto t = parse_uint(text);
    if (!t || *t < lo || *t > hi)
        return setup_error{std::string("must be a number of ") + unit + " between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + ", not \"" + text + "\""};
    return *t;
}

// One of a few named values.
template <class Value>
judgement choice(const std::string& text, std::initializer_list<std::pair<const char*, Value>> choices, Value& out) {
    for (const auto& [name, value] : choices) {
        if (text == name) {
            out = value;
            return {};
        }
    }
    std::string why = "must be ";
    std::size_t i = 0;
    for (const auto& [name, value] : choices) {
        why += std::string(i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + "\"" + name + "\"";
        ++i;
    }
    why += ", not \"" + text + "\"";
    return setup_error{why};
}

constexpr char milliseconds_unit[] = "milliseconds";
constexpr char microseconds_unit[] = "microseconds";
constexpr char threads_unit[] = "threads";
constexpr char pages_unit[] = "pages";

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// A setting that is a whole number of Unit in [Lo, Hi], kept times Scale in the member Field
// (a number, or an optional one that stays unset unless given).
template <auto Field, std::uint64_t Lo, std::uint64_t Hi, const char* Unit, std::uint64_t Scale = 1>
judgement whole_number(runtime_config& c, const std::string& text) {
    auto v = number(text, Lo, Hi, Unit);
    if (!v) return v.error();
    auto& field = c.*Field;
    using kept = std::remove_cvref_t<decltype(field)>;
    if constexpr (is_optional<kept>::value)
        field = static_cast<typename kept::value_type>(*v * Scale);
    else
        field = static_cast<kept>(*v * Scale);
    return {};
}

struct setting {
    // Its key in the cluster file's [settings]; its variable is AETHER_ and the key in capitals.
    std::string_view key;
    // Takes the setting from `text`, or says why it cannot.
    judgement (*apply)(runtime_config& c, const std::string& text);
};

// Every optional setting, in the order they are applied.
constexpr setting settings[] = {
    {"timeout_ms", whole_number<&runtime_config::timeout_ms, 1, 3'600'000, milliseconds_unit>},
    {"log",
     [](runtime_config&, const std::string& text) -> judgement {
         if (log::set_level(text)) return {};
         return setup_error{"must be a level (trace, debug, info, warn, error, critical, off), or component=level pairs "
                            "(aether.fault=debug,aether.transport=info), not \"" +
                            text + "\""};
     }},
    {"home_size",
     [](runtime_config& c, const std::string& text) -> judgement {
         auto b = parse_size(text);
         if (!b || *b == 0) return setup_error{"must be a size such as 64M or 1G (at most 4G), not \"" + text + "\""};
         c.home_bytes = *b;
         return {};
     }},
    {"fault_mode",
     [](runtime_config& c, const std::string& text) {
         return choice(text, {{"handler", fault::fault_mode::handler}, {"sigbus", fault::fault_mode::sigbus}}, c.mode);
     }},
    {"void_policy",
     [](runtime_config& c, const std::string& text) {
         return choice(text, {{"sigbus", store_policy::sigbus}, {"block", store_policy::block}}, c.stores);
     }},
    {"void_retry_ms", whole_number<&runtime_config::void_retry_ms, 1, 3'600'000, milliseconds_unit>},
    {"lease_ms", whole_number<&runtime_config::lease_ms, 20, 3'600'000, milliseconds_unit>},
    {"suspect_ms", whole_number<&runtime_config::suspect_ms, 20, 3'600'000, milliseconds_unit>},
    {"poll_us", whole_number<&runtime_config::poll_ns, 0, 1'000'000, microseconds_unit, 1000>},
    {"fault_spin_us", whole_number<&runtime_config::fault_spin_ns, 0, 1'000'000, microseconds_unit, 1000>},
    {"thread_priority",
     [](runtime_config& c, const std::string& text) {
         return choice(
             text,
             {{"auto", thread_priority::automatic}, {"normal", thread_priority::normal}, {"realtime", thread_priority::realtime}},
             c.threads);
     }},
    {"fault_threads", whole_number<&runtime_config::fault_threads, 1, 256, threads_unit>},
    {"hold_us", whole_number<&runtime_config::hold_ns, 0, 100'000, microseconds_unit, 1000>},
    {"readahead_pages", whole_number<&runtime_config::readahead_pages, 1, wire::max_readahead + 1, pages_unit>},
    {"admin_dir",
     [](runtime_config& c, const std::string& text) -> judgement {
         if (text != "off" && (text.empty() || text[0] != '/'))
             return setup_error{"must be an absolute directory or off, not \"" + text + "\""};
         c.admin_dir = text;
         return {};
     }},
    {"cluster",
     [](runtime_config& c, const std::string& text) -> judgement {
         if (text.empty() || text.size() > 64 || text.find_first_of("/ \t") != std::string::npos || text[0] == '.')
             return setup_error{"must be a name of 1 to 64 characters without slashes or blanks, not \"" + text + "\""};
         c.cluster = text;
         return {};
     }},
    {"metrics",
     [](runtime_config& c, const std::string& text) -> judgement {
         if (!is_host_port(text, true))
             return setup_error{"must be host:port (where to serve Prometheus metrics; port 0: any free one), not \"" + text +
                                "\""};
         c.metrics = text;
         return {};
     }},
    {"latency_histograms",
     [](runtime_config& c, const std::string& text) {
         return choice(text, {{"on", true}, {"off", false}}, c.latency_histograms);
     }},
    // Checked against the backends of this build when the runtime starts (transport/backends.hpp).
    {"transport",
     [](runtime_config& c, const std::string& text) -> judgement {
         c.transport = text;
         return {};
     }},
};

std::string variable_of(std::string_view key) {
    std::string name = "AETHER_";
    for (char ch : key) name += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    return name;
}

// The cluster file named by AETHER_CONFIG: none when it is not set, an error when it is set but
// cannot be read or is not a good file.
setup_result<std::optional<cluster_file>> load_cluster_file() {
    const char* path = env("AETHER_CONFIG");
    if (path == nullptr) return std::optional<cluster_file>();
    auto file = read_cluster_file(path);
    if (!file) return file.error();
    return std::optional<cluster_file>(std::move(file).value());
}

// The file's settings, then the variables': a variable overrides the file.
setup_result<void> apply_settings(runtime_config& c, const std::optional<cluster_file>& file) {
    if (file) {
        for (const auto& [key, value] : file->settings) {
            const auto* s =
                std::find_if(std::begin(settings), std::end(settings), [&](const setting& x) { return x.key == key; });
            if (s == std::end(settings)) {
                std::string message = file->at(value.line) + "unknown setting \"" + key + "\" in [settings]; the settings are";
                for (const setting& known : settings) message += std::string(" ") + std::string(known.key);
                return setup_error{message};
            }
            if (auto judged = s->apply(c, value.text); !judged)
                return setup_error{file->at(value.line) + key + " " + judged.error().message};
        }
    }
    for (const setting& s : settings) {
        const std::string name = variable_of(s.key);
        const char* v = env(name.c_str());
        if (v == nullptr) continue;
        if (auto judged = s.apply(c, v); !judged) return setup_error{name + " " + judged.error().message};
    }
    return {};
}

// The file's [[node]] entries as the cluster's addresses, each checked: an id where given must be
// its position, an address is host:port, so is a bind address.
setup_result<std::vector<std::string>> file_addresses(const cluster_file& file) {
    std::vector<std::string> addresses;
    for (std::size_t i = 0; i < file.nodes.size(); ++i) {
        const file_node& n = file.nodes[i];
        const std::string which = "node " + std::to_string(i);
        if (n.id && n.id->text != std::to_string(i))
            return setup_error{file.at(n.id->line) + "id = " + n.id->text + " in the [[node]] entry of " + which +
                               ": nodes are listed in id order, the first is node 0"};
        if (!n.address)
            return setup_error{file.at(n.line) + which + " has no address (address = \"host:port\", what the other nodes dial)"};
        if (!is_host_port(n.address->text))
            return setup_error{file.at(n.address->line) + "the address of " + which + " (\"" + n.address->text +
                               "\") is not host:port"};
        if (n.bind && !is_host_port(n.bind->text))
            return setup_error{file.at(n.bind->line) + "the bind address of " + which + " (\"" + n.bind->text +
                               "\") is not host:port"};
        addresses.push_back(n.address->text);
    }
    return addresses;
}

// The cluster secret from the file: `secret`, or the contents of `secret_file` (a relative path is
// taken from the cluster file's directory, so a file and its secret can move together). Empty when
// the file has neither.
setup_result<std::string> file_secret(const cluster_file& file) {
    if (file.secret) {
        if (file.secret->text.empty()) return setup_error{file.at(file.secret->line) + "secret is empty"};
        return file.secret->text;
    }
    if (!file.secret_file) return std::string();
    std::string path = file.secret_file->text;
    if (!path.empty() && path.front() != '/') {
        const auto slash = file.path.rfind('/');
        if (slash != std::string::npos) path = file.path.substr(0, slash + 1) + path;
    }
    auto secret = read_secret_file(path);
    if (!secret) return setup_error{file.at(file.secret_file->line) + secret.error().message, secret.error().code};
    return secret;
}

// The secret in force: AETHER_SECRET, else the file's (empty when neither has one).
setup_result<std::string> secret_of(const std::optional<cluster_file>& file) {
    if (const char* s = env("AETHER_SECRET")) return std::string(s);
    if (file) return file_secret(*file);
    return std::string();
}

} // namespace

std::uint64_t effective_poll_ns(const runtime_config& c) noexcept {
    if (c.poll_ns) return *c.poll_ns;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 50'000;
    return CPU_COUNT(&allowed) > 1 ? 50'000 : 0;
}

std::uint32_t effective_lease_ms(const runtime_config& c) noexcept {
    if (c.lease_ms) return *c.lease_ms;
    return std::clamp<std::uint32_t>(c.timeout_ms / 4 * 3, 20, 2000);
}

std::uint32_t effective_suspect_ms(const runtime_config& c) noexcept { return c.suspect_ms.value_or(c.timeout_ms); }

std::uint64_t service_poll_ns(const runtime_config& c, thread_priority effective) noexcept {
    constexpr std::uint64_t realtime_cap_ns = 20'000;
    const std::uint64_t poll = effective_poll_ns(c);
    return effective == thread_priority::realtime ? std::min(poll, realtime_cap_ns) : poll;
}

setup_result<thread_priority> effective_thread_priority(const runtime_config& c) {
    if (c.threads == thread_priority::normal) return thread_priority::normal;
    if (may_run_realtime()) return thread_priority::realtime;
    if (c.threads == thread_priority::automatic) return thread_priority::normal;
    return setup_error{"AETHER_THREAD_PRIORITY (or thread_priority in the cluster file) is realtime, but this process may not "
                       "make threads real-time (it needs CAP_SYS_NICE, or `ulimit -r` of at least 1)",
                       EPERM};
}

std::optional<std::size_t> parse_size(const std::string& text) {
    if (text.empty()) return std::nullopt;
    std::size_t mult = 1;
    std::string digits = text;
    switch (text.back()) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        digits.pop_back();
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        digits.pop_back();
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        digits.pop_back();
        break;
    default: break;
    }
    auto v = parse_uint(digits);
    if (!v || *v > (std::uint64_t{1} << 32) / mult) return std::nullopt;
    return *v * mult;
}

setup_result<void> apply_optional_env(runtime_config& c) {
    auto file = load_cluster_file();
    if (!file) return file.error();
    return apply_settings(c, *file);
}

setup_result<runtime_config> config_from_env() {
    auto loaded = load_cluster_file();
    if (!loaded) return loaded.error();
    const std::optional<cluster_file>& file = *loaded;
    std::vector<std::string> file_peers;
    if (file) {
        auto addresses = file_addresses(*file);
        if (!addresses) return addresses.error();
        file_peers = std::move(addresses).value();
    }
    const bool file_lists_nodes = !file_peers.empty();

    runtime_config c;
    // First, so that everything wrong with the file is reported before what the environment lacks.
    if (auto applied = apply_settings(c, file); !applied) return applied.error();
    const char* id = env("AETHER_NODE_ID");
    const char* count = env("AETHER_NODE_COUNT");
    const char* peers = env("AETHER_PEERS");
    // Where the node count comes from, for messages.
    const std::string count_source = count != nullptr ? "AETHER_NODE_COUNT" : file_lists_nodes ? file->path : "";
    if (count != nullptr) {
        auto n = parse_uint(count);
        if (!n || *n == 0 || *n > SERAPH_AETHER_MAX_NODES)
            return setup_error{std::string("AETHER_NODE_COUNT must be between 1 and 16384, not \"") + count + "\""};
        if (file_lists_nodes && file_peers.size() != *n)
            return setup_error{std::string("AETHER_NODE_COUNT is ") + count + " but the cluster file " + file->path + " lists " +
                               std::to_string(file_peers.size()) + (file_peers.size() == 1 ? " node" : " nodes")};
        c.node_count = static_cast<node_id>(*n);
    } else if (file_lists_nodes) {
        if (file_peers.size() > SERAPH_AETHER_MAX_NODES)
            return setup_error{file->path + " lists " + std::to_string(file_peers.size()) +
                               " nodes; a cluster has at most 16384"};
        c.node_count = static_cast<node_id>(file_peers.size());
    } else {
        std::string message = "AETHER_NODE_COUNT is not set (the number of nodes in the cluster)";
        if (file) message += ", and the cluster file " + file->path + " lists no [[node]]";
        return setup_error{message};
    }
    if (id == nullptr)
        return setup_error{"AETHER_NODE_ID is not set (this node's id, 0 .. " + std::to_string(c.node_count - 1) + ")"};
    auto i = parse_uint(id);
    if (!i || *i >= c.node_count)
        return setup_error{std::string("AETHER_NODE_ID must be a node id below the node count (") + std::to_string(c.node_count) +
                           " from " + count_source + "), not \"" + id + "\""};
    c.self = static_cast<node_id>(*i);
    if (peers != nullptr) {
        std::string list = peers;
        std::size_t start = 0;
        while (start <= list.size()) {
            std::size_t comma = list.find(',', start);
            std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            // "a:1, b:2" as people write lists: blanks around an entry are not part of it.
            item.erase(0, item.find_first_not_of(" \t"));
            item.erase(item.find_last_not_of(" \t") + 1);
            if (!is_host_port(item))
                return setup_error{"AETHER_PEERS entry " + std::to_string(c.peers.size()) + " (\"" + item +
                                   "\") is not host:port"};
            c.peers.push_back(item);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (c.peers.size() != c.node_count)
            return setup_error{"AETHER_PEERS lists " + std::to_string(c.peers.size()) + " nodes but " + count_source + " has " +
                               std::to_string(c.node_count)};
    } else if (file_lists_nodes) {
        c.peers = std::move(file_peers);
    } else {
        std::string message = "AETHER_PEERS is not set (host:port of every node, comma-separated, in node-id order)";
        if (file) message += ", and the cluster file " + file->path + " lists no [[node]]";
        return setup_error{message};
    }
    if (const char* b = env("AETHER_BIND")) {
        if (!is_host_port(b))
            return setup_error{std::string("AETHER_BIND must be host:port (the address this node listens on), not \"") + b +
                               "\""};
        c.bind = b;
    } else if (file && c.self < file->nodes.size() && file->nodes[c.self].bind) {
        c.bind = file->nodes[c.self].bind->text;
    }
    auto secret = secret_of(file);
    if (!secret) return secret.error();
    c.secret = std::move(secret).value();
    if (const char* v = env("AETHER_LISTEN_FD")) {
        auto fd = parse_uint(v);
        if (!fd || *fd > INT_MAX)
            return setup_error{std::string("AETHER_LISTEN_FD must be a file descriptor number, not \"") + v + "\""};
        c.listen_fd = static_cast<int>(*fd);
    }
    return c;
}

setup_result<std::string> cluster_secret_from_env() {
    if (const char* s = env("AETHER_SECRET")) return std::string(s);
    auto file = load_cluster_file();
    if (!file) return file.error();
    auto secret = secret_of(*file);
    if (secret && secret->empty())
        return setup_error{"no cluster secret: set AETHER_SECRET (or AETHER_CONFIG, a cluster file with one) as for the nodes"};
    return secret;
}

setup_result<admin_target> admin_target_from_env() {
    auto loaded = load_cluster_file();
    if (!loaded) return loaded.error();
    const std::optional<cluster_file>& file = *loaded;
    runtime_config c;
    if (auto applied = apply_settings(c, file); !applied) return applied.error();
    admin_target t;
    if (const char* count = env("AETHER_NODE_COUNT")) {
        auto n = parse_uint(count);
        if (n && *n > 0 && *n <= SERAPH_AETHER_MAX_NODES) t.node_count = static_cast<node_id>(*n);
    } else if (file) {
        t.node_count = static_cast<node_id>(std::min<std::size_t>(file->nodes.size(), SERAPH_AETHER_MAX_NODES));
    }
    if (c.admin_dir) {
        t.dir = *c.admin_dir;
        return t;
    }
    auto secret = secret_of(file);
    if (!secret) return secret.error();
    if (secret->empty() && c.cluster.empty())
        return setup_error{"no admin directory: set AETHER_ADMIN_DIR, AETHER_CLUSTER or AETHER_SECRET (or AETHER_CONFIG) as "
                           "for the nodes, or give --socket"};
    t.dir = admin::default_dir(c.cluster, *secret);
    return t;
}

} // namespace aether
