#include "runtime/admin/admin_path.hpp"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace aether::admin {

std::string cluster_tag(const std::string& secret) {
    static constexpr char key[] = "aether admin directory";
    unsigned char out[8];
    crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                       reinterpret_cast<const unsigned char*>(key), sizeof key - 1);
    char hex[2 * sizeof out + 1];
    return sodium_bin2hex(hex, sizeof hex, out, sizeof out);
}

std::string default_dir(const std::string& cluster, const std::string& secret) {
    const std::string name = cluster.empty() ? cluster_tag(secret) : cluster;
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/')
        return std::string(xdg) + "/aether/" + name;
    return "/tmp/aether-" + std::to_string(::getuid()) + "/" + name;
}

std::optional<std::uint64_t> parse_address(std::string_view text) noexcept {
    if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
    std::uint64_t addr = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), addr, 16);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !is_aether(addr)) return std::nullopt;
    return addr;
}

std::string socket_path(const std::string& dir, node_id n) { return dir + "/node-" + std::to_string(n) + ".sock"; }

setup_result<void> make_private_dir(const std::string& dir) {
    if (dir.empty() || dir[0] != '/') return setup_error{"the admin directory must be an absolute path, not \"" + dir + "\""};
    // Each missing component is made owner-only; existing ones (/tmp, $XDG_RUNTIME_DIR) stay.
    for (std::size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
        const std::string part = at == std::string::npos ? dir : dir.substr(0, at);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return setup_error::from_errno(errno, {"cannot make ", part});
        if (at == std::string::npos) break;
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return setup_error::from_errno(errno, {"cannot look at ", dir});
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077) != 0)
        return setup_error{dir + " must be a directory of this user that nobody else may enter (mode 0700)", EACCES};
    return {};
}

} // namespace aether::admin
