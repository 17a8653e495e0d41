// List requests (SPEC §4 "List query parameters", §10 "Lists"): query
// parameters -> a store::ListQuery, and the cursor and Link header that go
// back. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/negotiation.h"
#include "api/validation.h"
#include "common/error.h"
#include "store/store.h"

namespace restd::api {

struct ListRequest {
  store::ListQuery query;
  int64_t page = 1;
  int64_t perPage = 20;
  bool cursorMode = false;
  std::vector<std::string> fields;   // fields=: exactly these keys; empty = all
  std::string sortText;              // the sort parameter as given (cursors carry it)
};

// Parses the list parameters. Returns the 400 error (invalid_parameter or
// unknown_parameter, naming the parameter) or nullopt.
[[nodiscard]] std::optional<ErrorObject> parseListRequest(const CollectionRules& rules, const QueryParams& params,
                                            ListRequest& out);

// The opaque cursor that continues after `last`.
std::string encodeCursor(const CollectionRules& rules, const ListRequest& request, const store::Record& last);

// The Link header (RFC 8288) and the page count for a page-mode reply.
std::string linkHeader(std::string_view path, const QueryParams& params, const ListRequest& request,
                       std::optional<int64_t> pagesCount, bool hasMore, const std::optional<std::string>& nextCursor);

// A query string from params with `name` set to `value` (or removed when value is nullopt).
std::string buildQuery(const QueryParams& params, std::string_view name, const std::optional<std::string>& value);

}  // namespace restd::api
