// Publishing and choosing addresses for nodes started by a process manager.
#include "runtime/launch/endpoint.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <charconv>

namespace aether::launch {

namespace {

std::string dotted(std::uint32_t ip) {
    in_addr a{htonl(ip)};
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, text, sizeof text);
    return text;
}

template <class Int>
bool parse_whole(std::string_view s, Int& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

std::optional<interface_address> parse_address(std::string_view s) {
    const auto slash = s.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const std::string ip(s.substr(0, slash));
    in_addr a{};
    unsigned prefix = 0;
    if (inet_pton(AF_INET, ip.c_str(), &a) != 1 || !parse_whole(s.substr(slash + 1), prefix) || prefix > 32) return std::nullopt;
    return interface_address{ntohl(a.s_addr), static_cast<std::uint8_t>(prefix)};
}

bool same_subnet(const interface_address& a, std::uint32_t ip) {
    const std::uint32_t mask = a.prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - a.prefix);
    return (a.ip & mask) == (ip & mask);
}

std::uint8_t prefix_of(const sockaddr* netmask) {
    if (netmask == nullptr) return 32;
    const std::uint32_t m = ntohl(reinterpret_cast<const sockaddr_in*>(netmask)->sin_addr.s_addr);
    return static_cast<std::uint8_t>(__builtin_popcount(m));
}

} // namespace

std::string encode(const endpoint& e) {
    std::string text = std::to_string(e.port) + ";";
    for (std::size_t i = 0; i < e.addresses.size(); ++i)
        text += (i == 0 ? "" : ",") + dotted(e.addresses[i].ip) + "/" + std::to_string(e.addresses[i].prefix);
    return text;
}

std::optional<endpoint> decode(std::string_view text) {
    const auto semicolon = text.find(';');
    if (semicolon == std::string_view::npos) return std::nullopt;
    endpoint e;
    if (!parse_whole(text.substr(0, semicolon), e.port) || e.port == 0) return std::nullopt;
    std::string_view list = text.substr(semicolon + 1);
    while (!list.empty()) {
        const auto comma = list.find(',');
        auto a = parse_address(list.substr(0, comma));
        if (!a) return std::nullopt;
        e.addresses.push_back(*a);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
        if (list.empty()) return std::nullopt; // a trailing comma
    }
    return e;
}

std::vector<interface_address> local_ipv4_addresses() {
    std::vector<interface_address> found;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return found;
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
        if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
        const std::uint32_t ip = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
        found.push_back({ip, prefix_of(i->ifa_netmask)});
    }
    freeifaddrs(list);
    return found;
}

std::optional<std::string> dial_address(const endpoint& peer, bool same_host, const std::vector<interface_address>& mine) {
    const std::string port = ":" + std::to_string(peer.port);
    if (same_host) return "127.0.0.1" + port;
    for (const interface_address& theirs : peer.addresses)
        for (const interface_address& ours : mine)
            if (ours.prefix == theirs.prefix && same_subnet(ours, theirs.ip)) return dotted(theirs.ip) + port;
    if (peer.addresses.empty()) return std::nullopt;
    return dotted(peer.addresses.front().ip) + port;
}

} // namespace aether::launch
