// Small helpers shared by the record handlers. Private to api/.
#pragma once

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "api/negotiation.h"
#include "common/error.h"
#include "http/message.h"
#include "store/store.h"

namespace restd::api {

inline std::string etagOf(const store::Record& r) {
  std::string tag;
  tag.reserve(r.id.size() + 24);
  tag.push_back('"');
  tag.append(r.id).push_back('.');
  tag.append(std::to_string(r.version)).push_back('"');
  return tag;
}

// If-Match / If-None-Match: "*" or a list of entity tags (weak ones never match strongly).
inline bool etagListMatches(std::string_view header, const std::string& etag, bool weakOk) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    item = http::trim(item);
    if (item == "*") return true;
    if (item.starts_with("W/")) {
      if (!weakOk) continue;
      item.remove_prefix(2);
    }
    if (item == etag) return true;
  }
  return false;
}

inline uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

inline std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// Only these query parameters make sense on a single-record or write request.
inline std::optional<ErrorObject> onlyParams(const QueryParams& q, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : q)
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      return ErrorObject(Reason::unknown_parameter, "The query parameter \"" + k + "\" is not understood here.");
  return std::nullopt;
}


}  // namespace restd::api
