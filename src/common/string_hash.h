// Hash maps keyed by std::string that are searched with a std::string_view,
// without building a std::string for the lookup:
//   std::unordered_map<std::string, V, StringHash, std::equal_to<>>
#pragma once

#include <functional>
#include <string_view>

namespace restd {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
};

}  // namespace restd
