// Sockets, timeouts, replies and drain, with Boost.Asio (Beast's parser lives
// in request_reader.cpp; no other file includes either: compile cost, and the
// HTTP layer's details stay here). One io_context run by N threads; each
// connection is a coroutine on its own strand: read -> handle -> write -> read.
// Every limit and framing rule is the RequestReader's; the session adds the
// timeouts, the per-client cap and shedding.
//
// Pipelining: requests are answered strictly in order, one at a time per
// connection; bytes of the next pipelined request wait in the read buffer, so
// the queue of pending responses is bounded at one by construction.
#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <mutex>
#include <csignal>
#include <cstdio>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/time.h"
#include "common/utf8.h"
#include "http/access_log.h"
#include "http/request_reader.h"

namespace restd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// The Date header changes once a second; format it once per thread per second.
const std::string& cachedHttpDate() {
  thread_local std::string text;
  thread_local time_t last = 0;
  auto now = std::chrono::system_clock::now();
  time_t secs = std::chrono::system_clock::to_time_t(now);
  if (secs != last) {
    last = secs;
    text = formatHttpDate(now);
  }
  return text;
}

// Counts a request as in flight from its first byte to the last byte of its reply.
class InFlightGuard {
 public:
  explicit InFlightGuard(std::atomic<uint64_t>& counter) : counter_(counter) { value_ = ++counter_; }
  ~InFlightGuard() { --counter_; }
  uint64_t value() const { return value_; }
 private:
  std::atomic<uint64_t>& counter_;
  uint64_t value_;
};

// A timeout that cancels the pending operation instead of closing the socket
// (as beast::tcp_stream does), so that the session can still answer 408.
//
// Lazy: arm() and disarm() only record the due time; the timer is scheduled
// when none is pending and, when it fires early (the deadline moved on), it
// re-schedules itself. A busy keep-alive connection thus touches the kernel
// timer once per timeout period, not twice per request (a timerfd_settime
// syscall each, which showed in the profile of GET /healthz).
//
// Thread safety: used only on the session's executor (its strand, or the one
// I/O thread). The state is shared with the timer's handler, so a handler
// that runs after the session ended finds `alive` false and touches nothing.
class Deadline {
 public:
  explicit Deadline(tcp::socket& socket)
      : state_(std::make_shared<State>(socket)) {}
  ~Deadline() {
    state_->alive = false;
    state_->timer.cancel();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void arm(std::chrono::milliseconds d) {
    State& s = *state_;
    s.fired = false;
    s.armed = true;
    s.due = Clock::now() + d;
    if (!s.waiting || s.due < s.timerDue) schedule(state_);
  }
  void disarm() { state_->armed = false; }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    explicit State(tcp::socket& s) : socket(s), timer(s.get_executor()) {}
    tcp::socket& socket;
    asio::steady_timer timer;
    Clock::time_point due{};       // when the armed operation times out
    Clock::time_point timerDue{};  // when the pending timer wait ends
    uint64_t generation = 0;       // tells a current wait from a replaced one
    bool armed = false, waiting = false, fired = false, alive = true;
  };

  static void schedule(const std::shared_ptr<State>& state) {
    State& s = *state;
    s.waiting = true;
    s.timerDue = s.due;
    uint64_t gen = ++s.generation;
    s.timer.expires_at(s.due);  // cancels a pending (later) wait, if any
    s.timer.async_wait([state, gen](beast::error_code) {
      State& st = *state;
      if (!st.alive || gen != st.generation) return;  // ended, or replaced by a newer wait
      st.waiting = false;
      if (!st.armed) return;                          // nothing to time; the next arm() schedules
      if (Clock::now() < st.due) {                    // re-armed since: wait for the new due time
        schedule(state);
        return;
      }
      st.fired = true;
      st.armed = false;
      beast::error_code ignored;
      st.socket.cancel(ignored);
    });
  }

  std::shared_ptr<State> state_;
};

// Hands a reply from Handler::handle() to the session. Most replies arrive
// inline (reads): then the session goes on without suspending or allocating a
// completion. A reply from another thread (a durable write) resumes the
// session through its executor. One per session, reset() before each
// request, and shared with each request's Respond function, so a late reply
// after shutdown touches only this object. Lock-free: deliver() and onReply()
// may race (a worker thread against the I/O thread), and whichever comes
// second hands the reply over; the state's acquire/release orders the
// response and the resume function between them.
class PendingReply {
 public:
  // The session's thread, between requests: the last one's reply was taken.
  void reset() {
    delivered_.store(false, std::memory_order_relaxed);
    state_.store(kEmpty, std::memory_order_relaxed);
  }
  void deliver(Response r) {
    if (delivered_.exchange(true, std::memory_order_relaxed)) return;  // exactly once
    response_ = std::move(r);
    int expected = kEmpty;
    if (state_.compare_exchange_strong(expected, kReady, std::memory_order_acq_rel)) return;
    // onReply() came first. The reply is moved into the call before it runs,
    // and resume_ into a local: once resumed, the session may reset() this.
    auto resume = std::move(resume_);
    resume(std::move(response_));
  }
  // True when the reply is already here; then takeResponse() has it.
  bool ready() const { return state_.load(std::memory_order_acquire) == kReady; }
  Response takeResponse() { return std::move(response_); }
  // Called when ready() was false: `resume` receives the reply, at once if it
  // arrived in between.
  void onReply(std::function<void(Response)> resume) {
    resume_ = std::move(resume);
    int expected = kEmpty;
    if (state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel)) return;
    auto now = std::move(resume_);
    now(std::move(response_));
  }

 private:
  static constexpr int kEmpty = 0, kReady = 1, kWaiting = 2;
  std::atomic<bool> delivered_{false};
  std::atomic<int> state_{kEmpty};
  Response response_;
  std::function<void(Response)> resume_;
};

// HTTP header values must not carry CR or LF (response splitting); any that
// slipped through become spaces.
void appendHeaderText(std::string& out, std::string_view text) {
  size_t start = out.size();
  out.append(text);
  if (!std::memchr(text.data(), '\r', text.size()) && !std::memchr(text.data(), '\n', text.size())) return;
  for (size_t i = start; i < out.size(); ++i)
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
}

void appendHeader(std::string& out, std::string_view name, std::string_view value) {
  appendHeaderText(out, name);
  out.append(": ", 2);
  appendHeaderText(out, value);
  out.append("\r\n", 2);
}

std::string_view headerOf(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (iequals(k, name)) return v;
  return {};
}

// RFC 9110 §13.2.2: If-None-Match (weak comparison) decides when present;
// otherwise If-Modified-Since against Last-Modified.
bool notModified(const Request& request, const Response& r) {
  if (request.hasHeader("If-None-Match")) {
    std::string_view etag = headerOf(r, "ETag");
    return !etag.empty() && entityTagListMatches(request.header("If-None-Match"), etag, true);
  }
  if (!request.hasHeader("If-Modified-Since")) return false;
  auto since = parseHttpDate(request.header("If-Modified-Since"));
  auto modified = parseHttpDate(headerOf(r, "Last-Modified"));
  return since && modified && *modified <= *since;
}

}  // namespace

// A storage engine's socket on the I/O threads (common/event_loop.h). With
// several I/O threads its functions run on a strand of their own. A wait is
// Asio's reactor wait, which does not look at readiness that came before it
// was started (epoll is edge-triggered): callers start a wait first and then
// try the socket, as pg_pipeline.cpp does.
class AsioFdWatch final : public FdWatch {
 public:
  AsioFdWatch(asio::io_context& ioc, int fd, bool strand)
      : executor_(strand ? asio::any_io_executor(asio::make_strand(ioc)) : asio::any_io_executor(ioc.get_executor())),
        descriptor_(executor_, fd) {}
  ~AsioFdWatch() override {
    *alive_ = false;  // waits and posts already queued find it so and do nothing
    beast::error_code ignored;
    descriptor_.cancel(ignored);
    descriptor_.release();  // the descriptor is its owner's to close
  }
  void post(std::function<void()> fn) override {
    asio::post(executor_, [alive = alive_, fn = std::move(fn)] {
      if (*alive) fn();
    });
  }
  void whenReadable(std::function<void()> fn) override { wait(asio::posix::descriptor_base::wait_read, std::move(fn)); }
  void whenWritable(std::function<void()> fn) override { wait(asio::posix::descriptor_base::wait_write, std::move(fn)); }

 private:
  void wait(asio::posix::descriptor_base::wait_type type, std::function<void()> fn) {
    descriptor_.async_wait(type, [alive = alive_, fn = std::move(fn)](beast::error_code) {
      if (*alive) fn();  // an error (the socket closed) is the owner's to find when it reads
    });
  }
  asio::any_io_executor executor_;
  asio::posix::stream_descriptor descriptor_;
  // Read and written only in the watch's sequence (or once the loop stopped).
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

struct Server::Impl final : EventLoop {
  ServerOptions options;
  Handler& handler;
  AccessLog& log;
  std::atomic<uint64_t> inFlight{0};
  std::atomic<bool> draining{false};
  // Declared after the counters: destroying the io_context destroys pending
  // session coroutines, whose guards still touch the counters.
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  // The acceptor, the signal handler that closes it and the drain poll run on
  // one strand: with several I/O threads, closing the acceptor while the
  // accept loop used it on another thread was a data race (found by TSan).
  asio::strand<asio::io_context::executor_type> control{ioc.get_executor()};
  asio::signal_set signals{control, SIGINT, SIGTERM};
  asio::steady_timer drainTimer{control};
  Clock::time_point drainDeadline;
  // Open connections per client address, for maxConnectionsPerClient.
  // Touched once when a connection opens and once when it closes.
  std::mutex clientsMutex;
  std::unordered_map<std::string, unsigned> clients;  // guarded by clientsMutex

  // Holds one of a client address's connection slots for a session's lifetime.
  class ClientSlot {
   public:
    ClientSlot(Impl& impl, const std::string& address) : impl_(impl), address_(address) {
      std::lock_guard lock(impl_.clientsMutex);
      unsigned& n = impl_.clients[address_];
      admitted_ = impl_.options.maxConnectionsPerClient == 0 || n < impl_.options.maxConnectionsPerClient;
      if (admitted_) ++n;
      else if (n == 0) impl_.clients.erase(address_);
    }
    ~ClientSlot() {
      if (!admitted_) return;
      std::lock_guard lock(impl_.clientsMutex);
      auto it = impl_.clients.find(address_);
      if (it != impl_.clients.end() && --it->second == 0) impl_.clients.erase(it);
    }
    ClientSlot(const ClientSlot&) = delete;
    ClientSlot& operator=(const ClientSlot&) = delete;
    bool admitted() const { return admitted_; }

   private:
    Impl& impl_;
    const std::string& address_;
    bool admitted_ = false;
  };

  Impl(ServerOptions o, Handler& h, AccessLog& l)
      : options(std::move(o)), handler(h), log(l), ioc(static_cast<int>(std::max(1u, options.threads))) {
    if (options.metrics)
      options.metrics->addGauge({"restd_http_requests_in_flight",
                                 "Requests between their first byte and the last byte of their reply.", "gauge",
                                 [this] { return static_cast<double>(inFlight.load(std::memory_order_relaxed)); }});
  }

  asio::awaitable<void> listen();
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<void> sendReply(tcp::socket& socket, Deadline& deadline, std::string& head, const Request& request,
                                  Response response, unsigned version, bool isHead, bool keepAlive,
                                  std::string_view acceptEncoding, Clock::time_point start, bool& closed);
  asio::awaitable<void> lingeringClose(tcp::socket& socket, Deadline& deadline);
  // A streamed reply (Response::stream) until it ends; the connection closes after.
  asio::awaitable<void> sendStream(tcp::socket& socket, Deadline& deadline, std::string& head, const Request& request,
                                   Response r, unsigned version, Clock::time_point start);
  // The status line and the headers every reply has, then the reply's own.
  void appendHead(std::string& head, const Request& request, const Response& r, unsigned version);
  void startDrain();
  void pollDrain();

  std::unique_ptr<FdWatch> watch(int fd) override {
    return std::make_unique<AsioFdWatch>(ioc, fd, options.threads > 1);
  }
  unsigned threads() const override { return std::max(1u, options.threads); }
};

asio::awaitable<void> Server::Impl::listen() {
  for (;;) {
    // With one I/O thread every handler runs on it: a strand would only add
    // locking. With several, each connection gets its own strand.
    asio::any_io_executor executor =
        options.threads <= 1 ? asio::any_io_executor(ioc.get_executor()) : asio::any_io_executor(asio::make_strand(ioc));
    auto [ec, socket] = co_await acceptor.async_accept(executor, kNoThrow);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of file descriptors or a transient error: back off briefly, keep serving.
      asio::steady_timer t(ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kNoThrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    socket.non_blocking(true, ignored);  // lets the session try a read before waiting
    // An exception that escaped a session would end io_context::run() and
    // with it the process: it ends that one connection instead, and is logged.
    asio::co_spawn(executor, session(std::move(socket)), [](std::exception_ptr failure) {
      if (!failure) return;
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        logInternalError("-", std::string("connection ended by an exception: ") + e.what());
      } catch (...) {
        logInternalError("-", "connection ended by an unknown exception");
      }
    });
  }
}

asio::awaitable<void> Server::Impl::lingeringClose(tcp::socket& socket, Deadline& deadline) {
  // Half-close, then drain what the client still sends for a moment, so that
  // it reads our reply instead of getting a reset.
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  deadline.arm(std::chrono::seconds(2));
  char scratch[4096];
  for (size_t total = 0; total < (1u << 20);) {
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(scratch), kNoThrow);
    if (rec) break;
    total += n;
  }
  deadline.disarm();
  socket.close(ec);
}

void Server::Impl::appendHead(std::string& head, const Request& request, const Response& r, unsigned version) {
  head.clear();
  head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  char number[24];
  auto [end, ec0] = std::to_chars(number, number + sizeof number, r.status);
  head.append(number, end);
  head.push_back(' ');
  appendHeaderText(head, r.reasonPhrase.empty() ? std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(
                                                      static_cast<unsigned>(r.status))))
                                                : std::string_view(r.reasonPhrase));
  head.append("\r\n");
  appendHeader(head, "Server", options.serverHeader);
  appendHeader(head, "Date", cachedHttpDate());
  appendHeader(head, "X-Request-Id", request.requestId);
  if (!r.contentType.empty()) appendHeader(head, "Content-Type", r.contentType);
  for (auto& [k, v] : r.headers) appendHeader(head, k, v);
  head.append(r.headerLines);
}

asio::awaitable<void> Server::Impl::sendStream(tcp::socket& socket, Deadline& deadline, std::string& head,
                                               const Request& request, Response r, unsigned version,
                                               Clock::time_point start) {
  // No Content-Length: chunked on HTTP/1.1, ended by closing on 1.0. The
  // connection serves nothing else afterwards.
  appendHead(head, request, r, version);
  bool chunked = version != 10;
  head.append(chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
  head.append("X-Accel-Buffering: no\r\n\r\n");  // nginx: pass events on at once
  std::shared_ptr<Stream> stream = std::move(r.stream);
  // Woken from any thread: the flag is read and the timer cancelled on
  // this connection's executor only.
  auto signal = std::make_shared<asio::steady_timer>(socket.get_executor());
  auto woken = std::make_shared<bool>(false);
  auto executor = socket.get_executor();
  stream->start([signal, woken, executor] {
    asio::post(executor, [signal, woken] {
      *woken = true;
      signal->cancel();
    });
  });
  size_t bytes = 0;
  std::string pending = std::move(r.body), frame;
  auto send = [&](std::string_view text) -> asio::awaitable<bool> {
    frame.clear();
    if (chunked && !text.empty()) {
      char size[20];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", text.size());
      frame.append(size, static_cast<size_t>(n)).append(text).append("\r\n");
    } else {
      frame.append(text);
    }
    bytes += text.size();
    deadline.arm(options.idleTimeout);
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(frame), kNoThrow);
    deadline.disarm();
    co_return !ec;
  };
  bool ok = true;
  {
    std::array<asio::const_buffer, 1> wire{asio::buffer(head)};
    deadline.arm(options.idleTimeout);
    auto [ec, n] = co_await asio::async_write(socket, wire, kNoThrow);
    deadline.disarm();
    ok = !ec;
  }
  // The drain is checked at least this often; heartbeats go out when the
  // stream was quiet for its interval.
  constexpr auto kDrainCheck = std::chrono::milliseconds(250);
  auto lastWrite = Clock::now();
  bool open = true;
  while (ok) {
    *woken = false;
    open = stream->take(pending);
    if (!pending.empty()) {
      ok = co_await send(pending);
      pending.clear();
      lastWrite = Clock::now();
    }
    if (!ok || !open || draining.load(std::memory_order_relaxed)) break;
    if (*woken) continue;
    if (Clock::now() - lastWrite >= stream->heartbeatInterval) {
      ok = co_await send(stream->heartbeat);
      lastWrite = Clock::now();
      continue;
    }
    signal->expires_after(std::min<Clock::duration>(kDrainCheck, stream->heartbeatInterval));
    co_await signal->async_wait(kNoThrow);
  }
  stream->finish();
  if (ok && chunked) {
    deadline.arm(options.idleTimeout);
    co_await asio::async_write(socket, asio::buffer("0\r\n\r\n", 5), kNoThrow);
    deadline.disarm();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log.write(AccessRecord{request.requestId, request.method, request.target, r.status, bytes, seconds});
  if (options.metrics) options.metrics->observe(r.routeTag, request.method, r.status, request.body.size(), bytes, seconds);
  if (ok) co_await lingeringClose(socket, deadline);
  else {
    beast::error_code ignored;
    socket.close(ignored);
  }
}

asio::awaitable<void> Server::Impl::sendReply(tcp::socket& socket, Deadline& deadline, std::string& head,
                                              const Request& request, Response r, unsigned version, bool isHead,
                                              bool keepAlive, std::string_view acceptEncoding,
                                              Clock::time_point start, bool& closed) {
  // The status line and headers are written into `head`, a buffer the
  // connection reuses, and sent with the body in one gathered write.
  bool noBody = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
  bool keep = keepAlive && !r.closeConnection && !draining.load(std::memory_order_relaxed);
  bool streamed = r.stream && !noBody;
  if (streamed && !isHead) {
    co_await sendStream(socket, deadline, head, request, std::move(r), version, start);
    closed = true;
    co_return;
  }
  bool gzipped = false;
  bool large = !noBody && !streamed && r.compressible && r.body.size() >= 1024;
  bool compress = large && acceptsGzip(acceptEncoding);  // HEAD too: its headers are GET's
  bool hasVary = false;
  for (auto& [k, v] : r.headers) {
    if (iequals(k, "Vary")) hasVary = true;
    // The gzip coding is a representation of its own: its own strong ETag.
    if (compress && iequals(k, "ETag") && v.size() >= 2 && v.back() == '"') v.insert(v.size() - 1, ":gzip");
  }
  if (r.conditional && r.status == 200 && notModified(request, r)) {
    r.status = 304;
    r.body.clear();
    r.contentType.clear();
    noBody = true;
    compress = large = false;
    // A 304 carries what a cache updates its stored reply with, no body metadata.
    std::erase_if(r.headers, [](const auto& h) {
      return iequals(h.first, "Link") || iequals(h.first, "X-Total-Count") || iequals(h.first, "Location");
    });
  }
  bool vary = large && !hasVary;
  if (compress) {
    // 64 KiB of input is 1-3 ms of deflate (JSON to random text): between slices the
    // thread serves other connections, so a 100 MB reply delays nobody else
    // by more than that. Small bodies finish in one step without yielding.
    constexpr size_t kSlice = 64 * 1024;
    std::string gz;
    GzipEncoder encoder(r.body.size());
    bool failed = false;
    while (!encoder.step(r.body, gz, kSlice, failed))
      co_await asio::post(socket.get_executor(), asio::use_awaitable);
    if (!failed) {
      r.body.swap(gz);
      gzipped = true;
    } else {
      for (auto& [k, v] : r.headers)  // sent as identity after all: its own ETag again
        if (iequals(k, "ETag") && v.ends_with(":gzip\"")) v.erase(v.size() - 6, 5);
    }
  }
  if (noBody) r.contentType.clear();
  appendHead(head, request, r, version);
  char number[24];
  char* end = number;
  if (vary) appendHeader(head, "Vary", "Accept-Encoding");
  if (gzipped) appendHeader(head, "Content-Encoding", "gzip");
  size_t bytes = noBody ? 0 : r.body.size();
  if (!noBody && !streamed) {
    end = std::to_chars(number, number + sizeof number, r.body.size()).ptr;
    appendHeader(head, "Content-Length", std::string_view(number, static_cast<size_t>(end - number)));
  }
  if (version == 10 && keep) head.append("Connection: keep-alive\r\n");
  if (version != 10 && !keep) head.append("Connection: close\r\n");
  head.append("\r\n");
  std::array<asio::const_buffer, 2> wire{asio::buffer(head),
                                         asio::buffer(r.body.data(), isHead || noBody ? 0 : r.body.size())};

  deadline.arm(options.idleTimeout);
  auto [ec, n] = co_await asio::async_write(socket, wire, kNoThrow);
  deadline.disarm();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  log.write(AccessRecord{request.requestId, request.method, request.target, r.status, isHead ? 0 : bytes, seconds});
  if (options.metrics)
    options.metrics->observe(r.routeTag, request.method, r.status, request.body.size(), isHead ? 0 : bytes, seconds);
  if (ec) {
    beast::error_code ignored;
    socket.close(ignored);
    closed = true;
    co_return;
  }
  if (!keep) {
    co_await lingeringClose(socket, deadline);
    closed = true;
  }
}

asio::awaitable<void> Server::Impl::session(tcp::socket socket) {
  RequestReader reader(ReaderLimits{options.headerLimit, options.urlLimit, options.maxBodyBytes, options.bodylessPostPath});
  Deadline deadline(socket);
  beast::error_code peerEc;
  std::string peer = socket.remote_endpoint(peerEc).address().to_string();
  bool fresh = true;
  std::string head;  // reused from reply to reply (its capacity stays)
  Request& request = reader.request();
  request.clientAddress = peer;
  auto pending = std::make_shared<PendingReply>();

  // One client address may hold only so many connections: past that, one
  // client (4,000 connections that each send a byte, say) could otherwise
  // keep everyone else waiting. Refused at once, before reading anything.
  ClientSlot slot(*this, peer);
  if (!slot.admitted()) {
    std::string requestId;
    newRequestId(requestId);
    request.requestId = requestId;
    Response r = handler.protocolError(Reason::overloaded, request);
    r.closeConnection = true;
    bool closed = false;
    co_await sendReply(socket, deadline, head, request, std::move(r), 11, false, false, {}, Clock::now(), closed);
    co_return;
  }

  auto readMore = [&]() -> asio::awaitable<beast::error_code> {
    std::span<char> room = reader.prepare(RequestReader::kReadSize);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(room.data(), room.size()), kNoThrow);
    if (!ec) reader.commit(n);
    co_return ec;
  };

  for (;;) {
    // Wait for the first byte of the next request: the idle keep-alive timeout
    // applies between requests, the header timeout on a fresh connection.
    if (reader.buffered() == 0) {
      if (!fresh && draining.load()) co_return;
      // Wait for readability first: an idle connection then holds no read
      // buffer (10,000 idle keep-alive connections must stay cheap).
      // Bytes already there (a busy client): read them at once. Otherwise
      // free the buffer and wait for readability before taking one again.
      beast::error_code ec;
      std::span<char> room = reader.prepare(4096);
      size_t n = socket.read_some(asio::buffer(room.data(), room.size()), ec);
      if (ec == asio::error::would_block) {
        deadline.arm(fresh ? options.headerTimeout : options.idleTimeout);
        reader.shrinkIfEmpty();
        auto [wec] = co_await socket.async_wait(tcp::socket::wait_read, kNoThrow);
        ec = wec;
        if (!ec) ec = co_await readMore();
      } else if (!ec) {
        reader.commit(n);
      }
      deadline.disarm();
      if (ec) {
        if (deadline.fired() && fresh) {
          reader.startRequest();
          std::string requestId;
          newRequestId(requestId);
          request.requestId = requestId;
          bool closed = false;
          Response r = handler.protocolError(Reason::request_timeout, request);
          r.closeConnection = true;
          co_await sendReply(socket, deadline, head, request, std::move(r), 11, false, false, {}, Clock::now(),
                             closed);
        }
        co_return;
      }
    }
    fresh = false;
    Clock::time_point start = Clock::now();
    reader.startRequest();  // the previous request's views die here
    bool closed = false;
    std::string fallbackId;

    // Replies to a request refused at the protocol level, then closes.
    auto refuse = [&](Reason reason) -> asio::awaitable<void> {
      if (request.requestId.empty()) {
        newRequestId(fallbackId);
        request.requestId = fallbackId;
      }
      Response r = handler.protocolError(reason, request);
      r.closeConnection = true;
      co_await sendReply(socket, deadline, head, request, std::move(r), reader.version(), false, false, {}, start,
                         closed);
      if (!closed) {
        beast::error_code ignored;
        socket.close(ignored);
      }
    };

    // The header, within headerTimeout.
    RequestReader::Step step = reader.readHeader();
    if (step == RequestReader::Step::needMore) deadline.arm(options.headerTimeout);
    while (step == RequestReader::Step::needMore) {
      if (beast::error_code ec = co_await readMore()) {
        deadline.disarm();
        if (deadline.fired()) co_await refuse(Reason::request_timeout);
        co_return;  // else the client went away mid-request: nothing to answer
      }
      step = reader.readHeader();
    }
    deadline.disarm();
    if (step == RequestReader::Step::failed) {
      co_await refuse(reader.failure());
      co_return;
    }

    // A request is in flight from its complete header to the last byte of its
    // reply: connections still sending a header cost a read and a timer, and
    // the per-client cap bounds them. Liveness is never shed.
    InFlightGuard guard(inFlight);
    if (guard.value() > options.maxInFlight && request.path != options.neverShedPath) {
      Response r = handler.protocolError(Reason::overloaded, request);
      r.closeConnection = true;
      co_await sendReply(socket, deadline, head, request, std::move(r), reader.version(), false, false, {}, start,
                         closed);
      co_return;
    }

    // The body, within idleTimeout.
    if (!reader.bodyComplete() && reader.continueExpected() && reader.buffered() == 0) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, reader.version()};
      deadline.arm(options.idleTimeout);
      auto [cec, cn] = co_await bhttp::async_write(socket, cont, kNoThrow);
      deadline.disarm();
      if (cec) co_return;
    }
    step = reader.readBody();
    if (step == RequestReader::Step::needMore) deadline.arm(options.idleTimeout);
    while (step == RequestReader::Step::needMore) {
      if (beast::error_code ec = co_await readMore()) {
        deadline.disarm();
        if (deadline.fired()) co_await refuse(Reason::request_timeout);
        co_return;
      }
      step = reader.readBody();
    }
    deadline.disarm();
    if (step == RequestReader::Step::failed) {
      co_await refuse(reader.failure());
      co_return;
    }

    pending->reset();
    try {
      handler.handle(request, [pending](Response r) { pending->deliver(std::move(r)); });
    } catch (const std::exception& e) {
      logInternalError(request.requestId, e.what());
      pending->deliver(handler.protocolError(Reason::internal, request));
    }
    Response response;
    if (pending->ready()) {
      response = pending->takeResponse();
    } else {
      // Answered from another thread: resume this coroutine on its executor.
      response = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Response)>(
          [&](auto completion) {
            auto shared = std::make_shared<decltype(completion)>(std::move(completion));
            pending->onReply([shared](Response r) {
              auto executor = asio::get_associated_executor(*shared);
              asio::post(executor, [shared, r = std::move(r)]() mutable { std::move (*shared)(std::move(r)); });
            });
          },
          asio::use_awaitable);
    }
    if (response.render) {
      auto render = std::move(response.render);
      response.render = nullptr;
      try {
        render(response);
      } catch (const std::exception& e) {
        logInternalError(request.requestId, e.what());
        response = handler.protocolError(Reason::internal, request);
      }
    }
    co_await sendReply(socket, deadline, head, request, std::move(response), reader.version(), reader.isHead(),
                       reader.keepAlive(), reader.acceptEncoding(), start, closed);
    if (closed) co_return;
  }
}

void Server::Impl::startDrain() {
  draining = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  drainDeadline = Clock::now() + options.drainTimeout;
  // Say why the process has not exited yet, and that a second signal ends
  // the wait: a stalled client would otherwise hold it for drain_timeout in
  // silence.
  if (uint64_t n = inFlight.load(); n > 0) {
    std::fprintf(stderr, "restd: draining %llu request%s (up to %llds; Ctrl-C again to stop now)\n",
                 static_cast<unsigned long long>(n), n == 1 ? "" : "s",
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(options.drainTimeout).count()));
    signals.async_wait([this](beast::error_code ec, int) {
      if (ec) return;
      std::fprintf(stderr, "restd: stopping now; %llu request%s not finished\n",
                   static_cast<unsigned long long>(inFlight.load()), inFlight.load() == 1 ? "" : "s");
      drainDeadline = Clock::now();
    });
  }
  pollDrain();
}

void Server::Impl::pollDrain() {
  if (inFlight.load() == 0 || Clock::now() >= drainDeadline) {
    ioc.stop();
    return;
  }
  drainTimer.expires_after(std::chrono::milliseconds(20));
  drainTimer.async_wait([this](beast::error_code) { pollDrain(); });
}

Server::Server(ServerOptions options, Handler& handler, AccessLog& log)
    : impl_(std::make_unique<Impl>(std::move(options), handler, log)) {}

Server::~Server() = default;

bool Server::bind(std::string& error) {
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) {
    // A host name: resolve it.
    tcp::resolver resolver(impl_->ioc);
    auto results = resolver.resolve(impl_->options.host, std::to_string(impl_->options.port), ec);
    if (ec || results.empty()) {
      error = "cannot resolve listen host \"" + impl_->options.host + "\"";
      return false;
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + endpoint.address().to_string() + ":" + std::to_string(impl_->options.port) + ": " +
            ec.message();
    return false;
  }
  return true;
}

uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

EventLoop& Server::loop() { return *impl_; }

void Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  auto& impl = *impl_;
  impl.signals.async_wait([&impl](beast::error_code ec, int) {
    if (!ec) impl.startDrain();
  });
  asio::co_spawn(impl.control, impl.listen(), asio::detached);
  unsigned n = std::max(1u, impl.options.threads);
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&impl] { impl.ioc.run(); });
  impl.ioc.run();
  for (auto& t : threads) t.join();
}

}  // namespace restd::http
