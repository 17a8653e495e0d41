// The error log: internal details of a failure (never sent to a client), one
// JSON line on stderr with the request id it belongs to ("-" for none).
// Thread-safe; each line is one write.
#pragma once

#include <string_view>

namespace restd {

void logInternalError(std::string_view requestId, std::string_view what);

}  // namespace restd
