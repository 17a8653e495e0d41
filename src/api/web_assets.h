// The browser assets restd serves (/docs/assets/NAME): files from npm
// (web/package.json), embedded into the binary at build time. Immutable;
// safe to read from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace restd::api {

struct WebAsset {
  std::string_view name;         // "swagger-ui-bundle.js"
  std::string contentType;       // "text/javascript; charset=utf-8"
  std::string etag;              // a strong ETag from the content's SHA-256
  std::string_view body;         // the file's bytes, in the binary's read-only data
};

// The asset called `name`, or nullptr.
const WebAsset* findWebAsset(std::string_view name);

}  // namespace restd::api
