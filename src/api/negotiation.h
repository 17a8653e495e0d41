// Query strings and content negotiation: pure functions, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "render/profile.h"

namespace restd::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits and decodes an application/x-www-form-urlencoded string ('+' is a
// space). Returns false on a malformed percent escape.
bool parseQuery(std::string_view query, QueryParams& out);
const std::string* findParam(const QueryParams& params, std::string_view name);

// Whether a Content-Type names application/x-www-form-urlencoded (any parameters).
bool isFormBody(std::string_view contentType);
// True when a body sent as a form is JSON text: `curl -d '{...}'` sends
// application/x-www-form-urlencoded unless told otherwise, and such a body
// would otherwise read as one field named after the whole text.
bool formBodyIsJson(std::string_view body);
// The 415 message for it, naming the header to send.
inline constexpr std::string_view kJsonSentAsForm =
    "The body is JSON but was sent as application/x-www-form-urlencoded (curl -d does that); send it with "
    "Content-Type: application/json (curl -H 'Content-Type: application/json' or curl --json).";
// A form body's fields into `out`, or its 415 (JSON sent as a form) or 400
// (a malformed percent-escape).
[[nodiscard]] std::optional<ErrorObject> readForm(std::string_view body, QueryParams& out);

// The reply format an Accept header asks for: JSON by default and on ties,
// XML when it ranks higher, nullopt when the header allows neither (406).
std::optional<render::Format> negotiateFormat(std::string_view accept);

}  // namespace restd::api
