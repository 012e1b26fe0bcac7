// Text helpers shared by the probe tests.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

// Whether any of items contains part.
inline bool contains(const std::vector<std::string>& items, const std::string& part) {
    return std::any_of(items.begin(), items.end(), [&](const std::string& s) { return s.find(part) != std::string::npos; });
}
