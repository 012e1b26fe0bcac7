// Reading the cluster file with toml++. The only file that includes toml++: its headers are large,
// and its exceptions stay in here (read_cluster_file turns them into an error message).
#include "runtime/config_file.hpp"

#include <toml++/toml.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string_view>

namespace aether {

namespace {

std::uint32_t line_of(const toml::node& n) { return n.source().begin.line; }
std::uint32_t line_of(const toml::key& k) { return k.source().begin.line; }

// The whole file, or "<what>: <errno's text>".
setup_result<std::string> read_whole(const std::string& path, const std::string& what) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "re"), &std::fclose);
    if (!f) return setup_error::from_errno(errno, {what});
    std::string text;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
    if (std::ferror(f.get())) return setup_error::from_errno(errno, {what});
    return text;
}

// A scalar as the text an environment variable would hold: strings as they are, numbers as their
// digits, booleans as true/false. The settings' own checks then judge it (and name the key).
std::string as_text(const toml::node& n) {
    if (const auto* s = n.as_string()) return s->get();
    std::ostringstream out;
    n.visit([&](const auto& v) { out << v; });
    return out.str();
}

// Walks the parsed table into `out`; the first thing wrong stops it, and error() says what.
class file_reader {
public:
    explicit file_reader(cluster_file& out)
        : out_(out) {}

    [[nodiscard]] const setup_error& error() const { return error_; }

    bool read(const toml::table& root) {
        for (const auto& [key, value] : root) {
            const std::string_view name = key.str();
            if (name == "secret" || name == "secret_file") {
                if (!text_of(key, value, name == "secret" ? out_.secret : out_.secret_file)) return false;
            } else if (name == "settings") {
                if (!read_settings(key, value)) return false;
            } else if (name == "node") {
                if (!read_nodes(key, value)) return false;
            } else {
                return fail(line_of(key), "unknown key \"" + std::string(name) +
                                              "\" (the file has secret or secret_file, [settings] and [[node]] entries)");
            }
        }
        if (out_.secret && out_.secret_file)
            return fail(std::max(out_.secret->line, out_.secret_file->line), "give either secret or secret_file, not both");
        return true;
    }

private:
    bool fail(std::uint32_t line, const std::string& what) {
        error_ = {out_.at(line) + what};
        return false;
    }

    bool text_of(const toml::key& key, const toml::node& value, std::optional<file_value>& into) {
        if (!value.is_string()) return fail(line_of(value), std::string(key.str()) + " must be a string");
        into = file_value{as_text(value), line_of(value)};
        return true;
    }

    bool read_settings(const toml::key& key, const toml::node& value) {
        const auto* table = value.as_table();
        if (table == nullptr) return fail(line_of(key), "settings must be a table: [settings]");
        for (const auto& [name, v] : *table) {
            if (v.is_table() || v.is_array())
                return fail(line_of(name), "setting \"" + std::string(name.str()) + "\" must be a single value");
            out_.settings.emplace_back(std::string(name.str()), file_value{as_text(v), line_of(v)});
        }
        return true;
    }

    bool read_nodes(const toml::key& key, const toml::node& value) {
        const auto* list = value.as_array();
        if (list == nullptr || !list->is_array_of_tables())
            return fail(line_of(key), "node must be a list of [[node]] tables, one per node in node-id order");
        for (const auto& entry : *list) {
            file_node n;
            n.line = line_of(entry);
            for (const auto& [name, v] : *entry.as_table()) {
                const std::string_view field = name.str();
                if (field == "address") {
                    if (!text_of(name, v, n.address)) return false;
                } else if (field == "bind") {
                    if (!text_of(name, v, n.bind)) return false;
                } else if (field == "id") {
                    if (!v.is_integer()) return fail(line_of(v), "id must be a whole number (the node's position in the list)");
                    n.id = file_value{as_text(v), line_of(v)};
                } else {
                    return fail(line_of(name),
                                "unknown key \"" + std::string(field) + "\" in [[node]] (it has address, bind and id)");
                }
            }
            out_.nodes.push_back(std::move(n));
        }
        return true;
    }

    cluster_file& out_;
    setup_error error_;
};

} // namespace

setup_result<cluster_file> read_cluster_file(const std::string& path) {
    cluster_file out;
    out.path = path;
    auto text = read_whole(path, "cannot read the cluster file " + path + " (AETHER_CONFIG)");
    if (!text) return text.error();
    try {
        const toml::table root = toml::parse(*text, path);
        file_reader reader(out);
        if (!reader.read(root)) return reader.error();
        return out;
    } catch (const toml::parse_error& e) {
        return setup_error{out.at(e.source().begin.line) + std::string(e.description())};
    } catch (const std::exception& e) { // allocation: the file cannot be held
        return setup_error{"cannot read the cluster file " + path + ": " + e.what(), ENOMEM};
    }
}

setup_result<std::string> read_secret_file(const std::string& path) {
    auto text = read_whole(path, "cannot read the secret file " + path);
    if (!text) return text;
    // Editors and `echo` end the file with a line end, which is not part of the secret.
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    if (text->empty()) return setup_error{"the secret file " + path + " is empty"};
    return text;
}

} // namespace aether
