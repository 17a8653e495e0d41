// The HTTP/1.1 server: listener, sessions, limits, timeouts, drain.
// Bytes in, http::Request out; http::Response in, bytes out. It knows nothing
// about restd's API: everything above the protocol is the Handler's business.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/event_loop.h"
#include "http/message.h"

namespace restd {
class Metrics;
}

namespace restd::http {

class AccessLog;

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

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;           // 0 = any free port (see Server::port())
  unsigned threads = 1;
  uint64_t maxBodyBytes = 1 << 20;
  uint64_t maxInFlight = 4096;     // complete requests in flight; above it 503 overloaded
  unsigned maxConnectionsPerClient = 256;  // open connections per client address; 0 = no cap
  std::string neverShedPath = "/healthz";  // liveness: answered even when overloaded
  size_t headerLimit = 16 * 1024; // request line + headers
  size_t urlLimit = 8 * 1024;     // request target
  std::string bodylessPostPath;   // see ReaderLimits
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds idleTimeout{60'000};
  std::chrono::milliseconds drainTimeout{30'000};
  std::string serverHeader = "restd";
  // Observes every request once its reply is sent (nullptr: none). Must
  // outlive the server; the server adds its own gauges to it.
  Metrics* metrics = nullptr;
};

class Server {
 public:
  Server(ServerOptions options, Handler& handler, AccessLog& log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket. Returns false and fills `error` on failure.
  bool bind(std::string& error);
  // The bound port (after bind()).
  uint16_t port() const;
  // The I/O threads' loop, for storage that waits on sockets of its own
  // (common/event_loop.h). Valid for the server's lifetime; watches made
  // from it must be destroyed before the server.
  EventLoop& loop();
  // Serves until SIGTERM or SIGINT, then drains: stops accepting, lets
  // requests in flight finish (up to drainTimeout) and returns.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace restd::http
