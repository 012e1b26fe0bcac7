// What a start-up call made, or the test fails with the reason it could not (setup_result's
// message). Shared by the unit and internal tests.
#pragma once

#include <catch2/catch.hpp>

#include "aether/internal/result.hpp"

#include <memory>
#include <utility>

namespace aether::test {

template <class T>
std::unique_ptr<T> must(setup_result<std::unique_ptr<T>> started) {
    if (!started) FAIL(started.error().message);
    return std::move(started).value();
}

} // namespace aether::test
