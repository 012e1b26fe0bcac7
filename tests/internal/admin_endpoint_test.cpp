// The admin socket (runtime/admin/endpoint.hpp) with real Unix sockets and what a careless or
// hostile client sends: junk, too much, nothing, a second node on the same path.
#include <catch2/catch.hpp>

#include "runtime/admin/admin_path.hpp"
#include "runtime/admin/endpoint.hpp"

#include "aether/internal/clock.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

using namespace aether;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/aether-admin-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::string cmd = "rm -rf " + path;
        (void)!std::system(cmd.c_str());
    }
};

int connect_to(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    REQUIRE(::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return s;
}

// Sends `bytes` (all of them, or until the endpoint stops reading) and returns everything it answers.
std::string talk(const std::string& path, const std::string& bytes) {
    int s = connect_to(path);
    (void)::send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    ::close(s);
    return out;
}

} // namespace

TEST_CASE("the admin socket answers one line, and refuses junk without holding on to it", "[admin]") {
    temp_dir d;
    std::string error;
    const std::string path = admin::socket_path(d.path, 3);
    std::atomic<int> asked{0};
    auto e = admin::endpoint::start(
        path,
        [&](std::string_view request) {
            ++asked;
            return "ok\nyou=" + std::string(request) + "\n";
        },
        error);
    REQUIRE(e);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0); // owner-only

    CHECK(talk(path, "stats\n") == "ok\nyou=stats\n");
    CHECK(talk(path, "page 0x1\r\n") == "ok\nyou=page 0x1\n");
    // More than a request may be, with no line end: an error, and the handler never sees it.
    CHECK(talk(path, std::string(10'000, 'x')).starts_with("error request longer than"));
    // Nothing at all within the time limit: an error, after about that long.
    const auto t0 = now_ns();
    {
        int s = connect_to(path);
        std::string out;
        char buf[256];
        for (ssize_t n; (n = ::recv(s, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<std::size_t>(n));
        ::close(s);
        CHECK(out.starts_with("error no request within"));
    }
    CHECK(now_ns() - t0 < 3'000'000'000ull);
    CHECK(asked == 2);
    // Still serving.
    CHECK(talk(path, "nodes\n") == "ok\nyou=nodes\n");

    // A second endpoint on a path where one answers is refused; the first keeps it.
    auto second = admin::endpoint::start(
        path, [](std::string_view) { return std::string("ok\n"); }, error);
    CHECK_FALSE(second);
    CHECK(error.find("a running node answers there") != std::string::npos);
    CHECK(talk(path, "stats\n") == "ok\nyou=stats\n");

    // Gone: the socket file goes with it.
    e.reset();
    CHECK(::access(path.c_str(), F_OK) != 0);
}

TEST_CASE("a socket file left by a node that died is taken over", "[admin]") {
    temp_dir d;
    const std::string path = admin::socket_path(d.path, 0);
    {
        // A bound, listening socket whose process "died": closed without removing the file.
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(s, 1) == 0);
        ::close(s);
    }
    REQUIRE(::access(path.c_str(), F_OK) == 0);
    std::string error;
    auto e = admin::endpoint::start(
        path, [](std::string_view) { return std::string("ok\n"); }, error);
    REQUIRE(e);
    CHECK(talk(path, "stats\n") == "ok\n");
}

TEST_CASE("the admin directory is made owner-only, and a directory others may enter is refused", "[admin]") {
    temp_dir d;
    std::string error;
    const std::string made = d.path + "/a/b";
    REQUIRE(admin::make_private_dir(made, error));
    struct stat st {};
    REQUIRE(::stat(made.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    const std::string open_dir = d.path + "/open";
    REQUIRE(::mkdir(open_dir.c_str(), 0755) == 0);
    CHECK_FALSE(admin::make_private_dir(open_dir, error));
    CHECK(error.find("0700") != std::string::npos);
    CHECK_FALSE(admin::make_private_dir("relative/dir", error));
}
