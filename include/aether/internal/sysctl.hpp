// Reading small integer sysctls (/proc/sys/...), for the kernel-feature probes.
#pragma once
#include "aether/internal/guard.hpp"

#include "aether/internal/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace aether {

// The integer in `path`, or -1 when the file is absent or unreadable.
inline int read_sysctl(const char* path) noexcept {
    unique_fd fd{::open(path, O_RDONLY | O_CLOEXEC)};
    if (!fd) return -1;
    char buf[32];
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) return -1;
    buf[n] = '\0';
    char* end = nullptr;
    long v = std::strtol(buf, &end, 10);
    if (end == buf) return -1;
    return static_cast<int>(v);
}

} // namespace aether
