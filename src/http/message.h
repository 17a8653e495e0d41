// The HTTP layer's view of a request and a reply, free of Boost.Beast so that
// the api layer (and its unit tests) never include Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace restd::http {

// A parsed request. Every string_view points into storage owned by the
// connection and stays valid only for the duration of Handler::handle().
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
  std::string_view header(std::string_view name) const;
  bool hasHeader(std::string_view name) const;
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
  // pair of strings per header, for headers on every reply (rate limits).
  std::string headerLines;
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

bool iequals(std::string_view a, std::string_view b);
// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim(std::string_view s);

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
