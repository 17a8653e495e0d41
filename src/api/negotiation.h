// Query strings and content negotiation: pure functions, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "render/profile.h"

namespace restd::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits and decodes an application/x-www-form-urlencoded string ('+' is a
// space). Returns false on a malformed percent escape.
bool parseQuery(std::string_view query, QueryParams& out);
const std::string* findParam(const QueryParams& params, std::string_view name);

// The reply format an Accept header asks for: JSON by default and on ties,
// XML when it ranks higher, nullopt when the header allows neither (406).
std::optional<render::Format> negotiateFormat(std::string_view accept);

}  // namespace restd::api
