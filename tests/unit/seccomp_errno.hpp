// Makes chosen system calls fail on purpose, for tests of what the runtime does when the kernel
// refuses it something: a seccomp filter on the calling thread (and the threads and processes it
// starts later), nothing else affected.
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace aether::test {

// From now on the system calls `numbers` fail with `err` on this thread; with `arg_index` >= 0,
// only when the low 32 bits of that argument equal `arg_value`. No allocation (callable in a
// forked child). False if the filter could not be installed (or on other than x86-64).
inline bool fail_syscalls_with(std::initializer_list<long> numbers, int err, int arg_index = -1, std::uint32_t arg_value = 0) {
#if defined(__x86_64__)
    constexpr std::size_t max_numbers = 8;
    if (numbers.size() == 0 || numbers.size() > max_numbers) return false;
    std::array<sock_filter, max_numbers + 10> code{};
    std::size_t n = 0;
    code[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    code[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    code[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    std::size_t left = numbers.size();
    for (long nr : numbers) {
        --left;
        // A match skips the compares left and the "allow" after them.
        code[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), static_cast<std::uint8_t>(left + 1), 0);
    }
    code[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    if (arg_index >= 0) {
        code[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                             static_cast<std::uint32_t>(offsetof(seccomp_data, args) +
                                                        static_cast<std::size_t>(arg_index) * sizeof(std::uint64_t)));
        code[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arg_value, 1, 0);
        code[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    }
    code[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA));
    sock_fprog prog{static_cast<unsigned short>(n), code.data()};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
    (void)numbers, (void)err, (void)arg_index, (void)arg_value;
    return false;
#endif
}

} // namespace aether::test
