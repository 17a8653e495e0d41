// GET {base_path}/openapi.json (SPEC §4): an OpenAPI 3.1 document of this
// server, generated from the config that drives it, so it cannot drift from
// what the handlers do. Rendered once at start; the reply serves the text.
#pragma once

#include <string>

#include "config/config.h"

namespace restd::api {

// The document as JSON text. Its response schemas describe the `standard`
// envelope profile (SPEC §6) in JSON; other profiles and XML carry the same
// data laid out differently, which the document's description says.
std::string renderOpenApi(const Config& config);

}  // namespace restd::api
