// The names restd keeps for itself, which a configuration may not give to a
// collection or a field. One list each: config/ refuses them, and api/ and
// store/ read the same lists (the route table and the envelope profiles are
// checked against them by unit tests: tests/unit/api/router_test.cpp,
// tests/unit/render/render_test.cpp).
#pragma once

#include <algorithm>
#include <iterator>
#include <string_view>

namespace restd {

// Every record's own fields, in the order the store keeps them.
inline constexpr std::string_view kSystemFields[] = {"id", "slug", "createdAt", "updatedAt", "version", "owner"};
// The query parameters of a list; a field with one of these names could not
// be filtered on (`?pretty=` is every reply's).
inline constexpr std::string_view kListParams[] = {"page",  "per_page", "sort", "fields", "cursor",       "count",
                                                   "envelope", "ids",   "atomic", "access_token", "pretty"};
// Fixed paths below server.base_path: no collection may be named after them.
inline constexpr std::string_view kApiPaths[] = {"authenticate", "me", "logout", "openapi"};
// The server's own paths outside base_path: reserved only when base_path is "".
inline constexpr std::string_view kServerPaths[] = {"healthz", "readyz", "metrics", "docs"};
// The envelope profiles (SPEC §6), as render/ names them.
inline constexpr std::string_view kEnvelopes[] = {"standard", "problem",   "request-result", "success-flag",
                                                  "plain",    "data-meta", "result-metadata"};

template <typename Range>
constexpr bool isOneOf(const Range& names, std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

}  // namespace restd
