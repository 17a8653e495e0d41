// What the HTTP layer does to messages besides parsing them: conditional
// requests, gzip, redaction. Free of Boost.Beast. The request and reply
// types are the api layer's (api/handler.h); the server speaks them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "api/handler.h"
#include "common/strings.h"

namespace restd::http {

using api::Handler;
using api::Request;
using api::Respond;
using api::Response;
using api::Stream;

// If-None-Match / If-Match: "*" or a list of entity tags matching `etag`.
// `weak`: weak comparison (W/ tags match too; If-None-Match); otherwise
// strong (W/ tags never match; If-Match).
bool entityTagListMatches(std::string_view header, std::string_view etag, bool weak);

// True when an Accept-Encoding value accepts gzip (q > 0, directly or via "*").
bool acceptsGzip(std::string_view acceptEncoding);

// Gzip (RFC 1952), a slice at a time, so that a large body is compressed in
// pieces with other connections' work in between (the server yields between
// slices). Not thread-safe; one encoder per body.
class GzipEncoder {
 public:
  // Bodies from this size on are compressed at level 1: about twice as fast
  // as level 6 on JSON for a few percent more bytes (docs/http.md).
  static constexpr size_t kFastLevelFrom = 256 * 1024;
  explicit GzipEncoder(size_t inputSize);
  ~GzipEncoder();
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  // Compresses up to `slice` more bytes of `in` (the same `in` on every call)
  // into `out`. Returns true when the stream is complete; `failed` on a zlib error.
  bool step(std::string_view in, std::string& out, size_t slice, bool& failed);

 private:
  struct State;
  State* state_;
  size_t consumed_ = 0;
};

// Gzip-compresses `in` in one go. Returns false on a zlib failure.
bool gzipCompress(std::string_view in, std::string& out);

// Replaces the value of every `access_token` query parameter with "REDACTED".
std::string redactAccessToken(std::string_view target);

}  // namespace restd::http
