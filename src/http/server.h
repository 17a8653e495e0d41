// The HTTP/1.1 server: listener, sessions, limits, timeouts, drain.
// Bytes in, api::Request out; api::Response in, bytes out (api/handler.h, the
// one header of api/ it sees). Everything above the protocol is the Handler's business.
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

  // Defined in server_impl.h, which only the server's own files include;
  // named here so that they can (a connection's code is not a member).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace restd::http
