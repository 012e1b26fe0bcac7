// Counts this process's open descriptors, so tests can tell that a probe closed what it opened.
#pragma once

#include <dirent.h>

inline int open_fd_count() {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return -1;
    int n = 0;
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
    return n; // includes ".", ".." and the directory's own descriptor: constant, so comparable
}
