// The client side of a node's admin socket (runtime/admin/endpoint.hpp, docs/admin.md): one
// request, its answer parsed into records.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aetherctl {

// One record: key=value pairs in the order the node sent them.
using record = std::vector<std::pair<std::string, std::string>>;

// The value of `key` in `r`, or nullptr.
const std::string* find(const record& r, const std::string& key);

struct admin_answer {
    bool ok = false;
    std::string error; // when !ok: why (the node's own words, or why it could not be asked)
    std::vector<record> records;
};

// Asks the node listening at `socket_path`. A node that does not answer within `timeout_ms` (or
// whose socket is gone, or refuses) gives !ok with a message that names the path.
admin_answer ask(const std::string& socket_path, const std::string& request, int timeout_ms = 3000);

// An answer's text ("ok" and records, or "error ..."), from the node at `where`.
admin_answer parse_answer(const std::string& text, const std::string& where);
// An answer that says why the node could not be asked.
admin_answer failed(std::string why);

} // namespace aetherctl
