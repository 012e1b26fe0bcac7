// Cuts one node's output stream into whole lines and prefixes each with the node's tag.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aether::run {

class line_relay {
public:
    // A node that never writes a newline must not make the launcher buffer without bound, so an
    // unterminated line longer than max_line is passed on as a line of its own.
    static constexpr std::size_t default_max_line = std::size_t{64} * 1024;

    explicit line_relay(std::string prefix, std::size_t max_line = default_max_line);

    // Appends every line that data completes, prefixed, to out; keeps the unterminated rest.
    void feed(std::string_view data, std::string& out);
    // End of stream: the unterminated rest, if any, becomes a line with a newline added.
    void finish(std::string& out);

    [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }

private:
    std::string prefix_;
    std::string pending_;
    std::size_t max_line_;
};

} // namespace aether::run
