// End-to-end: runs the built aetherctl (path in $AETHERCTL) and checks its output and exit status.
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

struct run_result {
    int status = -1; // exit status, or -1 when the process did not exit normally
    std::string out; // stdout only
};

std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE(v != nullptr);
    return v;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

run_result run(const std::string& args) {
    std::string cmd = shell_quote(env_or_fail("AETHERCTL")) + " " + args + " 2>/dev/null";
    run_result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int ws = ::pclose(p);
    if (ws != -1 && WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
    return r;
}

// A strict recursive-descent JSON checker (RFC 8259 grammar, no semantic checks).
class json_checker {
public:
    explicit json_checker(std::string_view s)
        : s_(s) {}
    bool document() {
        ws();
        if (!value()) return false;
        ws();
        return i_ == s_.size();
    }

private:
    bool value() {
        if (++depth_ > 64) return false;
        bool ok = false;
        if (i_ < s_.size()) {
            switch (s_[i_]) {
            case '{': ok = object(); break;
            case '[': ok = array(); break;
            case '"': ok = string(); break;
            case 't': ok = literal("true"); break;
            case 'f': ok = literal("false"); break;
            case 'n': ok = literal("null"); break;
            default: ok = number();
            }
        }
        --depth_;
        return ok;
    }
    bool object() {
        ++i_;
        ws();
        if (eat('}')) return true;
        for (;;) {
            ws();
            if (!string()) return false;
            ws();
            if (!eat(':')) return false;
            ws();
            if (!value()) return false;
            ws();
            if (eat('}')) return true;
            if (!eat(',')) return false;
        }
    }
    bool array() {
        ++i_;
        ws();
        if (eat(']')) return true;
        for (;;) {
            ws();
            if (!value()) return false;
            ws();
            if (eat(']')) return true;
            if (!eat(',')) return false;
        }
    }
    bool string() {
        if (!eat('"')) return false;
        while (i_ < s_.size()) {
            auto c = static_cast<unsigned char>(s_[i_++]);
            if (c == '"') return true;
            if (c < 0x20) return false;
            if (c == '\\') {
                if (i_ >= s_.size()) return false;
                char e = s_[i_++];
                if (e == 'u') {
                    for (int k = 0; k < 4; ++k)
                        if (i_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_++]))) return false;
                } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                    return false;
                }
            }
        }
        return false;
    }
    bool number() {
        std::size_t start = i_;
        eat('-');
        if (eat('0')) {
        } else if (!digits()) {
            return false;
        }
        if (eat('.') && !digits()) return false;
        if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
            ++i_;
            if (!eat('+')) eat('-');
            if (!digits()) return false;
        }
        return i_ > start;
    }
    bool digits() {
        std::size_t start = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        return i_ > start;
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return false;
        i_ += word.size();
        return true;
    }
    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
    }

    std::string_view s_;
    std::size_t i_ = 0;
    int depth_ = 0;
};

bool valid_json(std::string_view s) { return json_checker(s).document(); }

} // namespace

TEST_CASE("the JSON checker itself accepts JSON and rejects the rest", "[aetherctl]") {
    REQUIRE(valid_json(R"({"a": [1, -2.5e3, true, null, "x\"\u00e9"], "b": {}})"));
    REQUIRE_FALSE(valid_json(R"({"a": 1,})"));
    REQUIRE_FALSE(valid_json(R"({"a": "unterminated})"));
    REQUIRE_FALSE(valid_json("{\"a\": \"raw\ncontrol\"}"));
    REQUIRE_FALSE(valid_json(R"({"a": 1} {})"));
}

TEST_CASE("aetherctl --version prints the project version", "[aetherctl]") {
    run_result r = run("--version");
    REQUIRE(r.status == 0);
    REQUIRE(r.out.find("aetherctl " + env_or_fail("AETHER_VERSION")) != std::string::npos);
}

TEST_CASE("aetherctl probe reports a ready machine", "[aetherctl]") {
    run_result r = run("probe");
    INFO(r.out);
    REQUIRE(r.status == 0);
    for (const char* section : {"userfaultfd\n", "io_uring\n", "RDMA\n", "summary\n"})
        REQUIRE(r.out.find(section) != std::string::npos);
    REQUIRE(r.out.find("  [ok] /dev/userfaultfd") != std::string::npos);
    REQUIRE(r.out.find("  [ok] IORING_OP_ACCEPT (required)") != std::string::npos);
    REQUIRE(r.out.find("handler mode: ready") != std::string::npos);
    REQUIRE(r.out.find("TCP transport: ready") != std::string::npos);
    REQUIRE(r.out.find("RDMA transport: ") != std::string::npos);
    REQUIRE(r.out.find("[missing]") == std::string::npos);
}

TEST_CASE("aetherctl probe --json prints one valid JSON object", "[aetherctl]") {
    run_result r = run("probe --json");
    INFO(r.out);
    REQUIRE(r.status == 0);
    REQUIRE(valid_json(r.out));
    REQUIRE(r.out.front() == '{');
    for (const char* key : {"\"userfaultfd\"", "\"io_uring\"", "\"rdma\"", "\"summary\"", "\"handler_mode\"", "\"tcp_transport\"",
                            "\"PAGEFAULT_FLAG_WP\"", "\"multishot_accept\": true"})
        REQUIRE(r.out.find(key) != std::string::npos);
    REQUIRE(r.out.find("\"ready\": true") != std::string::npos);
}

TEST_CASE("aetherctl rejects unknown subcommands and options", "[aetherctl]") {
    REQUIRE(run("no-such-command").status > 0);
    REQUIRE(run("probe --no-such-option").status > 0);
    REQUIRE(run("").status > 0);
}
