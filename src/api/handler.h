// The boundary between the HTTP layer and the API: a parsed request, the
// reply to it, and the Handler the server calls. The api layer defines it and
// implements Handler (Service); http/ includes this header and nothing else
// of api/, so neither side sees the other's internals (CONTRIBUTING.md,
// "Layers"). Free of Boost.Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/strings.h"

namespace restd::api {

// A parsed request. The request and every string_view in it point into
// storage owned by the connection, valid until the handler calls the
// request's Respond (which may be after handle() returned: a write answers
// from the store's writer thread).
struct Request {
  std::string_view method;   // as sent, e.g. "GET"
  std::string_view target;   // raw request target, e.g. "/api/v2/things?page=2"
  std::string_view path;     // target before '?', still percent-encoded
  std::string_view query;    // target after '?', without it; "" if none
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // names as sent
  std::string_view body;
  std::string_view requestId;      // sanitised X-Request-Id or a generated one
  std::string_view clientAddress;  // peer IP
  unsigned version = 11;           // 10 or 11

  // Case-insensitive header lookup; "" when absent. First occurrence wins.
  std::string_view header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return {};
  }
  bool hasHeader(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return true;
    return false;
  }
};

// A reply that goes on after its headers (Server-Sent Events). The server
// sends the status and headers without a Content-Length (chunked on
// HTTP/1.1, close-delimited on 1.0), then whatever take() hands out, until
// take() says the stream is over, the client goes away or the server drains.
// Thread-safe as documented per function.
class Stream {
 public:
  virtual ~Stream() = default;
  // Called once, on the connection's thread, before the first take():
  // `wake` may then be called from any thread whenever take() has more.
  virtual void start(std::function<void()> wake) = 0;
  // Appends what is ready to `out`; false once the stream has ended (what
  // `out` holds is still sent). Called on the connection's thread.
  virtual bool take(std::string& out) = 0;
  // The connection is done with the stream (ended, client gone, drain);
  // called once, on the connection's thread. `wake` is not called after.
  virtual void finish() = 0;
  // Sent when nothing else was for this long, so proxies keep the stream open.
  std::chrono::milliseconds heartbeatInterval{15'000};
  std::string heartbeat = ": heartbeat\n\n";
};

struct Response {
  int status = 200;
  std::string reasonPhrase;   // "" = the standard phrase for `status`
  std::string contentType;    // "" = no Content-Type (e.g. 204, 304)
  std::vector<std::pair<std::string, std::string>> headers;
  // Header lines the handler formatted itself ("Name: value\r\n" each, no
  // CR or LF inside a value), sent after `headers`: one buffer instead of a
  // pair of strings per header, for headers on every reply (Vary,
  // Cache-Control, rate limits). The server never looks inside it.
  std::string headerLines;
  // True when `headers` or `headerLines` has a Vary header (the server then
  // adds none of its own for a compressible body).
  bool varies = false;
  std::string body;
  bool closeConnection = false;  // reply with Connection: close and close after
  bool compressible = true;      // false for streams and already-compressed data
  // A GET or HEAD 200 with validators (ETag, Last-Modified) that the server
  // answers 304 when If-None-Match / If-Modified-Since match the
  // representation it selects (the gzip one has its own ETag; SPEC §7).
  bool conditional = false;
  uint16_t routeTag = 0;  // which route answered, for /metrics (0: none); set by the handler
  // Set for a streamed reply (`body` is then its first bytes; never
  // compressed). On HEAD only the headers are sent.
  std::shared_ptr<Stream> stream;
  // Set when the body is still to be rendered: work finished on another
  // thread (a write, on the store's writer) hands over its result, and the
  // server calls this once on the connection's own thread, before sending,
  // to fill in this response. Keeps rendering off the single writer thread.
  std::function<void(Response&)> render;

  void addHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// Delivers the reply to a request. Call it exactly once, from any thread; the
// request's views stay valid until then.
using Respond = std::function<void(Response)>;

// Implemented by the api layer. Both functions are called concurrently from
// several I/O threads. An exception out of handle() is logged under the
// request id and answered 500 (when `respond` was not called yet);
// protocolError() must not throw.
class Handler {
 public:
  virtual ~Handler() = default;
  // A complete, well-formed request. Quick work answers inline; work that
  // waits (a durable write) calls `respond` later from another thread.
  virtual void handle(const Request& request, Respond respond) = 0;
  // The server refused a request before it was complete or well-formed
  // (400 bad_request, 408, 411, 413, 414, 417, 431, 505, 503 overloaded).
  // `request` holds whatever was parsed (method/target may be empty).
  virtual Response protocolError(Reason reason, const Request& request) = 0;
};

}  // namespace restd::api
