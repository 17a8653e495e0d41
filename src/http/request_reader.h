// Reads HTTP/1.1 requests from a connection's bytes, with every limit and
// framing rule of SPEC §7, and no I/O: the session reads from the socket into
// prepare()/commit() and asks for the next step. Being free of sockets, it is
// what the fuzzer drives (fuzz/http_reader.cpp) and what unit tests feed.
//
// Costs are bounded by construction: the buffer never holds more than the
// header limit plus one read (kReadSize) beyond what the parser consumed, and
// the work per byte is constant, so a request costs time and memory in
// proportion to its size and the limits.
//
// Not thread-safe: one reader per connection, used on its executor. Boost.Beast
// stays in request_reader.cpp (and server.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "http/message.h"

namespace restd::http {

struct ReaderLimits {
  size_t headerLimit = 16 * 1024;  // request line + headers; chunk extensions and trailers count too
  size_t urlLimit = 8 * 1024;      // request target
  uint64_t maxBodyBytes = 1 << 20;
  // POSTs to this path (with or without a .json/.xml suffix) may come with
  // neither Content-Length nor Transfer-Encoding, i.e. with no body: logout
  // takes none, and `curl -X POST` sends it so. Every other POST, PUT or
  // PATCH without them is 411 (SPEC §10). Empty: none.
  std::string bodylessPostPath;
};

class RequestReader {
 public:
  static constexpr size_t kReadSize = 8192;

  enum class Step {
    needMore,  // read more bytes (prepare/commit) and ask again
    ready,     // this phase is complete
    failed,    // refuse with failure() and close the connection
  };

  explicit RequestReader(ReaderLimits limits);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // The connection's receive buffer. prepare() gives room for up to `n` bytes;
  // commit() makes the first `n` of them part of the buffered input.
  std::span<char> prepare(size_t n);
  void commit(size_t n);
  size_t buffered() const;
  // When nothing is buffered, frees the buffer and the last request's parser
  // (idle connections stay small; startRequest() makes a new one anyway).
  void shrinkIfEmpty();

  // Forgets the previous request (its views die) and starts the next one;
  // bytes already buffered (pipelining) stay.
  void startRequest();

  // Phase 1: the request line and headers. On `ready`, request() holds the
  // method, target, path, query, headers, version and request id (views into
  // this reader, valid until the next startRequest()), and every framing
  // rule was checked: version, lengths, Host, Transfer-Encoding, Expect.
  Step readHeader();
  // Phase 2: the body (ready at once when there is none).
  Step readBody();

  // Why the request was refused, after `failed`. request_timeout is never
  // reported here: timeouts are the session's business.
  Reason failure() const { return failure_; }
  // Valid once readHeader() returned ready (headerParsed() tells whether the
  // header was parsed at all, for the version of a refusal).
  bool headerParsed() const;
  bool continueExpected() const { return continueExpected_; }
  bool bodyComplete() const;
  bool keepAlive() const;
  bool isHead() const;
  unsigned version() const;  // 10 or 11 (11 when unknown)
  std::string_view acceptEncoding() const;
  // The request as parsed so far (a refusal renders what there is).
  Request& request() { return request_; }
  const Request& request() const { return request_; }

 private:
  Step fail(Reason r) {
    failure_ = r;
    return Step::failed;
  }
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ReaderLimits limits_;
  Request request_;
  Reason failure_ = Reason::internal;
  bool continueExpected_ = false;
};

}  // namespace restd::http
