// Line splitting and prefixing for node output.
#include "tools/aether-run/line_relay.hpp"

#include <utility>

namespace aether::run {

line_relay::line_relay(std::string prefix, std::size_t max_line)
    : prefix_(std::move(prefix)),
      max_line_(max_line == 0 ? 1 : max_line) {}

void line_relay::feed(std::string_view data, std::string& out) {
    while (!data.empty()) {
        auto nl = data.find('\n');
        if (nl == std::string_view::npos) {
            pending_.append(data);
            // Split oversized unterminated text at max_line_ so memory stays bounded however the
            // reads happened to cut it.
            while (pending_.size() >= max_line_) {
                out += prefix_;
                out.append(pending_, 0, max_line_);
                out += '\n';
                pending_.erase(0, max_line_);
            }
            return;
        }
        out += prefix_;
        out += pending_;
        pending_.clear();
        out.append(data.substr(0, nl + 1));
        data.remove_prefix(nl + 1);
    }
}

void line_relay::finish(std::string& out) {
    if (pending_.empty()) return;
    out += prefix_;
    out += pending_;
    out += '\n';
    pending_.clear();
}

} // namespace aether::run
