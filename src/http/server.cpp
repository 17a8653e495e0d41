// The only translation unit that includes Boost.Beast (compile cost, and the
// HTTP layer's details stay here). One io_context run by N threads; each
// connection is a coroutine on its own strand: read -> handle -> write -> read.
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
#include <deque>
#include <mutex>
#include <csignal>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "common/time.h"
#include "common/utf8.h"
#include "http/access_log.h"

namespace restd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
using BeastRequest = bhttp::request<bhttp::string_body>;
using BeastResponse = bhttp::response<bhttp::string_body>;

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

// The request line as received (for telling 414 from 431 when the header limit trips).
std::string_view firstLine(const beast::flat_buffer& buffer) {
  auto data = buffer.data();
  std::string_view all(static_cast<const char*>(data.data()), data.size());
  size_t eol = all.find('\n');
  return eol == std::string_view::npos ? all : all.substr(0, eol);
}

// Where the header block ends (index past the blank line), or npos.
size_t headerEnd(const beast::flat_buffer& buffer) {
  auto data = buffer.data();
  std::string_view all(static_cast<const char*>(data.data()), data.size());
  size_t crlf = all.find("\r\n\r\n");
  size_t lf = all.find("\n\n");
  size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos && (end == std::string_view::npos || lf + 2 < end)) end = lf + 2;
  return end;
}

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
// session through its executor. Shared by the session and the Respond
// function, so a late reply after shutdown touches only this object.
class PendingReply {
 public:
  void deliver(Response r) {
    std::unique_lock lock(mutex_);
    if (delivered_) return;  // exactly once
    delivered_ = true;
    if (resume_) {
      auto resume = std::move(resume_);
      lock.unlock();
      resume(std::move(r));
    } else {
      response_ = std::move(r);
    }
  }
  // True when the reply is already here; then takeResponse() has it.
  bool ready() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  Response takeResponse() { return std::move(response_); }
  // Called when ready() was false: `resume` receives the reply, at once if it
  // arrived in between.
  void onReply(std::function<void(Response)> resume) {
    std::unique_lock lock(mutex_);
    if (delivered_) {
      lock.unlock();
      resume(std::move(response_));
      return;
    }
    resume_ = std::move(resume);
  }

 private:
  std::mutex mutex_;
  bool delivered_ = false;
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

bool looksLikeHttpVersion(std::string_view line) {
  size_t p = line.rfind(" HTTP/");
  return p != std::string_view::npos && p + 6 < line.size() && line[p + 6] >= '0' && line[p + 6] <= '9';
}

using Parser = bhttp::request_parser<bhttp::string_body>;

// Feeds what the buffer holds to the parser and drops what it used. Beast
// throws on some hostile input (a trailer field over 64 KiB: std::length_error
// "field value too large"); no exception from parsing may leave the session,
// so each becomes an error code: a size limit as header_limit (431), anything
// else as a malformed request (400).
void feed(Parser& parser, beast::flat_buffer& buffer, beast::error_code& ec) {
  try {
    size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
  } catch (const std::length_error&) {
    ec = bhttp::error::header_limit;
  } catch (const std::bad_alloc&) {
    ec = bhttp::error::header_limit;
  } catch (const std::exception&) {
    ec = bhttp::error::bad_value;
  }
}

enum class Framing { ok, malformed, unsupported };

// RFC 9112 §6.1 and §6.3 against request smuggling: the only transfer coding
// restd decodes is chunked, which must be the final coding and appear once; a
// Transfer-Encoding together with Content-Length, or in an HTTP/1.0 request,
// leaves the framing in doubt. Each of those is refused and the connection
// closed, so no byte of a body is ever read as the next request. A known-last
// chunked after another coding (`gzip, chunked`) is well framed but asks for a
// coding restd does not decode: 501.
Framing checkTransferEncoding(const BeastRequest& req) {
  auto range = req.equal_range(bhttp::field::transfer_encoding);
  if (range.first == range.second) return Framing::ok;
  if (req.version() < 11 || req.count(bhttp::field::content_length) > 0) return Framing::malformed;
  int chunked = 0;
  bool lastChunked = false, other = false;
  for (auto it = range.first; it != range.second; ++it) {
    std::string_view list = it->value();
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      std::string_view coding = trim(item.substr(0, item.find(';')));
      if (coding.empty()) continue;
      if (iequals(coding, "chunked")) {
        ++chunked;
        lastChunked = true;
      } else {
        other = true;
        lastChunked = false;
      }
    }
  }
  if (chunked != 1 || !lastChunked) return Framing::malformed;
  return other ? Framing::unsupported : Framing::ok;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler& handler;
  AccessLog& log;
  std::atomic<uint64_t> inFlight{0};
  std::atomic<bool> draining{false};
  // Declared after the counters: destroying the io_context destroys pending
  // session coroutines, whose guards still touch the counters.
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  asio::steady_timer drainTimer{ioc};
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
      : options(std::move(o)), handler(h), log(l), ioc(static_cast<int>(std::max(1u, options.threads))) {}

  asio::awaitable<void> listen();
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<void> sendReply(tcp::socket& socket, Deadline& deadline, std::string& head, const Request& request,
                                  Response response, unsigned version, bool isHead, bool keepAlive,
                                  std::string_view acceptEncoding, Clock::time_point start, bool& closed);
  asio::awaitable<void> lingeringClose(tcp::socket& socket, Deadline& deadline);
  void startDrain();
  void pollDrain();
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
        AccessLog::internalError("-", std::string("connection ended by an exception: ") + e.what());
      } catch (...) {
        AccessLog::internalError("-", "connection ended by an unknown exception");
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

asio::awaitable<void> Server::Impl::sendReply(tcp::socket& socket, Deadline& deadline, std::string& head,
                                              const Request& request, Response r, unsigned version, bool isHead,
                                              bool keepAlive, std::string_view acceptEncoding,
                                              Clock::time_point start, bool& closed) {
  // The status line and headers are written into `head`, a buffer the
  // connection reuses, and sent with the body in one gathered write.
  bool noBody = r.status == 204 || r.status == 304 || (r.status >= 100 && r.status < 200);
  bool keep = keepAlive && !r.closeConnection && !draining.load(std::memory_order_relaxed);
  bool gzipped = false, vary = false;
  if (!noBody && r.compressible && r.body.size() >= 1024) {
    vary = true;
    if (acceptsGzip(acceptEncoding)) {  // HEAD too: its headers are GET's
      // 64 KiB of input is about a millisecond of deflate: between slices the
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
      }
    }
  }
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
  if (!r.contentType.empty() && !noBody) appendHeader(head, "Content-Type", r.contentType);
  for (auto& [k, v] : r.headers) appendHeader(head, k, v);
  if (vary) appendHeader(head, "Vary", "Accept-Encoding");
  if (gzipped) appendHeader(head, "Content-Encoding", "gzip");
  size_t bytes = noBody ? 0 : r.body.size();
  if (!noBody) {
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
  beast::flat_buffer buffer;
  Deadline deadline(socket);
  beast::error_code peerEc;
  std::string peer = socket.remote_endpoint(peerEc).address().to_string();
  bool fresh = true;
  // Reused from request to request (their capacity stays).
  std::string requestId, head, cleanTarget;
  std::deque<std::string> cleanHeaders;  // a deque: views into it stay valid as it grows
  Request request;
  request.clientAddress = peer;

  // One client address may hold only so many connections: past that, one
  // client (4,000 connections that each send a byte, say) could otherwise
  // keep everyone else waiting. Refused at once, before reading anything.
  ClientSlot slot(*this, peer);
  if (!slot.admitted()) {
    newRequestId(requestId);
    request.requestId = requestId;
    Response r = handler.protocolError(Reason::overloaded, request);
    r.closeConnection = true;
    bool closed = false;
    co_await sendReply(socket, deadline, head, request, std::move(r), 11, false, false, {}, Clock::now(), closed);
    co_return;
  }

  for (;;) {
    // Wait for the first byte of the next request: the idle keep-alive timeout
    // applies between requests, the header timeout on a fresh connection.
    if (buffer.size() == 0) {
      if (!fresh && draining.load()) co_return;
      // Wait for readability first: an idle connection then holds no read
      // buffer (10,000 idle keep-alive connections must stay cheap).
      // Bytes already there (a busy client): read them at once. Otherwise
      // free the buffer and wait for readability before taking one again.
      beast::error_code ec;
      size_t n = socket.read_some(buffer.prepare(4096), ec);
      if (ec == asio::error::would_block) {
        deadline.arm(fresh ? options.headerTimeout : options.idleTimeout);
        buffer.shrink_to_fit();
        auto [wec] = co_await socket.async_wait(tcp::socket::wait_read, kNoThrow);
        ec = wec;
        n = 0;
        if (!ec) std::tie(ec, n) = co_await socket.async_read_some(buffer.prepare(4096), kNoThrow);
      }
      deadline.disarm();
      if (ec) {
        if (deadline.fired() && fresh) {
          newRequestId(requestId);
          Request partial;
          partial.requestId = requestId;
          partial.clientAddress = peer;
          bool closed = false;
          Response r = handler.protocolError(Reason::request_timeout, partial);
          r.closeConnection = true;
          co_await sendReply(socket, deadline, head, partial, std::move(r), 11, false, false, {}, Clock::now(),
                             closed);
        }
        co_return;
      }
      buffer.commit(n);
    }
    fresh = false;
    Clock::time_point start = Clock::now();

    // The previous request's views point into its parser, which is gone.
    requestId.clear();
    request.headers.clear();
    request.method = request.target = request.path = request.query = request.body = request.requestId = {};
    request.version = 11;
    bool closed = false;
    Parser parser;
    parser.header_limit(static_cast<std::uint32_t>(options.headerLimit + 4));
    parser.body_limit(options.maxBodyBytes);

    // Replies to a request refused at the protocol level, then closes.
    auto refuse = [&](Reason reason) -> asio::awaitable<void> {
      if (requestId.empty()) newRequestId(requestId);
      request.requestId = requestId;
      unsigned version = parser.is_header_done() ? parser.get().version() : 11;
      if (version != 10) version = 11;
      Response r = handler.protocolError(reason, request);
      r.closeConnection = true;
      co_await sendReply(socket, deadline, head, request, std::move(r), version, false, false, {}, start, closed);
      if (!closed) {
        beast::error_code ignored;
        socket.close(ignored);
      }
    };

    // Collect the whole header block ourselves, so the limits apply to the raw
    // bytes: a request line over urlLimit is 414, a header block over
    // headerLimit 431, and a stall past headerTimeout 408.
    size_t end = headerEnd(buffer);
    bool timedOut = false, gone = false;
    if (end == std::string_view::npos) deadline.arm(options.headerTimeout);
    while (end == std::string_view::npos && buffer.size() <= options.headerLimit) {
      auto [ec, n] = co_await socket.async_read_some(buffer.prepare(8192), kNoThrow);
      if (ec) {
        timedOut = deadline.fired();
        gone = !timedOut;
        break;
      }
      buffer.commit(n);
      end = headerEnd(buffer);
    }
    deadline.disarm();
    if (gone) co_return;  // the client went away mid-request: nothing to answer
    if (timedOut) {
      co_await refuse(Reason::request_timeout);
      co_return;
    }
    std::string_view line = firstLine(buffer);
    if (line.size() > options.urlLimit + 16) {
      co_await refuse(Reason::uri_too_long);
      co_return;
    }
    if (end == std::string_view::npos || end > options.headerLimit + 4) {
      co_await refuse(Reason::headers_too_large);
      co_return;
    }

    // The header block is complete in the buffer: one put() parses all of it.
    beast::error_code hec;
    feed(parser, buffer, hec);
    if (!hec && !parser.is_header_done()) hec = bhttp::error::partial_message;
    if (hec) {
      if (hec == bhttp::error::body_limit) co_await refuse(Reason::payload_too_large);
      else if (hec == bhttp::error::header_limit) co_await refuse(Reason::headers_too_large);
      else if (hec == bhttp::error::bad_version)
        co_await refuse(looksLikeHttpVersion(line) ? Reason::http_version_not_supported : Reason::bad_request);
      else co_await refuse(Reason::bad_request);
      co_return;
    }

    BeastRequest& req = parser.get();
    request.method = req.method_string();
    // Request text enters the program here: bytes that are not UTF-8 become
    // U+FFFD, so the target can be echoed into JSON, XML and the log.
    request.target = sanitizedUtf8(req.target(), cleanTarget);
    size_t qpos = request.target.find('?');
    request.path = request.target.substr(0, qpos);
    request.query = qpos == std::string_view::npos ? std::string_view{} : request.target.substr(qpos + 1);
    request.version = req.version();
    std::string_view clientId = req["X-Request-Id"];
    if (isSaneRequestId(clientId)) requestId.assign(clientId);
    else newRequestId(requestId);
    request.requestId = requestId;
    // The headers as sent, before the body: trailers never pose as headers.
    // Header values may carry obs-text: those that are not UTF-8 are cleaned too.
    cleanHeaders.clear();
    for (const auto& field : req) {
      std::string_view value = field.value();
      if (!isValidUtf8(value)) {
        cleanHeaders.emplace_back();
        appendSanitizedUtf8(cleanHeaders.back(), value);
        value = cleanHeaders.back();
      }
      request.headers.emplace_back(field.name_string(), value);
    }

    if (req.version() != 10 && req.version() != 11) {
      co_await refuse(Reason::http_version_not_supported);
      co_return;
    }
    if (request.target.size() > options.urlLimit) {
      co_await refuse(Reason::uri_too_long);
      co_return;
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never two in any version.
    size_t hosts = req.count(bhttp::field::host);
    if (hosts > 1 || (hosts == 0 && req.version() == 11)) {
      co_await refuse(Reason::bad_request);
      co_return;
    }
    Framing framing = checkTransferEncoding(req);
    if (framing != Framing::ok) {
      co_await refuse(framing == Framing::unsupported ? Reason::not_implemented : Reason::bad_request);
      co_return;
    }
    bool hasLength = req.count(bhttp::field::content_length) > 0;
    bool hasEncoding = req.count(bhttp::field::transfer_encoding) > 0;
    auto verb = req.method();
    if ((verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch) && !hasLength &&
        !hasEncoding) {
      co_await refuse(Reason::length_required);
      co_return;
    }
    bool continueExpected = false;
    if (req.count(bhttp::field::expect) > 0) {
      if (!iequals(req[bhttp::field::expect], "100-continue")) {
        co_await refuse(Reason::expectation_failed);
        co_return;
      }
      continueExpected = true;
    }
    // A request is in flight from its complete header to the last byte of its
    // reply: connections still sending a header cost a read and a timer, and
    // the per-client cap bounds them. Liveness is never shed.
    InFlightGuard guard(inFlight);
    if (guard.value() > options.maxInFlight && request.path != options.neverShedPath) {
      Response r = handler.protocolError(Reason::overloaded, request);
      r.closeConnection = true;
      co_await sendReply(socket, deadline, head, request, std::move(r), req.version(), false, false, {}, start,
                         closed);
      co_return;
    }

    if (!parser.is_done()) {
      if (continueExpected && buffer.size() == 0) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, req.version()};
        deadline.arm(options.idleTimeout);
        auto [cec, cn] = co_await bhttp::async_write(socket, cont, kNoThrow);
        deadline.disarm();
        if (cec) co_return;
      }
      // Chunk extensions and trailers count toward the header limit (SPEC
      // §7) with the header block itself: what the parser cannot consume yet
      // is one incomplete chunk-size line or the trailer block, and it may
      // never outgrow what is left of that limit, so the buffer stays bounded.
      size_t budget = options.headerLimit > end ? options.headerLimit - end : 0;
      size_t extensionBytes = 0;
      auto onChunkHeader = [&](std::uint64_t, auto extensions, beast::error_code& ec) {
        extensionBytes += extensions.size();
        if (extensionBytes > budget) ec = bhttp::error::header_limit;
      };
      parser.on_chunk_header(onChunkHeader);
      parser.eager(true);
      Reason failure = Reason::internal;  // internal = none
      bool quiet = false;                  // the client went away: nothing to answer
      deadline.arm(options.idleTimeout);
      for (;;) {
        beast::error_code bec;
        if (buffer.size() > 0) feed(parser, buffer, bec);
        if (bec == bhttp::error::need_more) bec = {};
        if (bec) {
          failure = bec == bhttp::error::body_limit     ? Reason::payload_too_large
                    : bec == bhttp::error::header_limit ? Reason::headers_too_large
                                                        : Reason::bad_request;
          break;
        }
        if (parser.is_done()) break;
        if (buffer.size() + extensionBytes > budget) {
          failure = Reason::headers_too_large;
          break;
        }
        auto [rec, n] = co_await socket.async_read_some(buffer.prepare(8192), kNoThrow);
        if (rec) {
          if (deadline.fired()) failure = Reason::request_timeout;
          else quiet = true;
          break;
        }
        buffer.commit(n);
      }
      deadline.disarm();
      if (quiet) co_return;
      if (failure != Reason::internal) {
        co_await refuse(failure);
        co_return;
      }
    }

    request.body = req.body();

    auto pending = std::make_shared<PendingReply>();
    try {
      handler.handle(request, [pending](Response r) { pending->deliver(std::move(r)); });
    } catch (const std::exception& e) {
      AccessLog::internalError(requestId, e.what());
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
        AccessLog::internalError(requestId, e.what());
        response = handler.protocolError(Reason::internal, request);
      }
    }
    bool isHead = verb == bhttp::verb::head;
    co_await sendReply(socket, deadline, head, request, std::move(response), req.version(), isHead, req.keep_alive(),
                       req[bhttp::field::accept_encoding], start, closed);
    if (closed) co_return;
  }
}

void Server::Impl::startDrain() {
  draining = true;
  beast::error_code ignored;
  acceptor.close(ignored);
  drainDeadline = Clock::now() + options.drainTimeout;
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

void Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  auto& impl = *impl_;
  impl.signals.async_wait([&impl](beast::error_code ec, int) {
    if (!ec) impl.startDrain();
  });
  asio::co_spawn(impl.ioc, impl.listen(), asio::detached);
  unsigned n = std::max(1u, impl.options.threads);
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&impl] { impl.ioc.run(); });
  impl.ioc.run();
  for (auto& t : threads) t.join();
}

}  // namespace restd::http
