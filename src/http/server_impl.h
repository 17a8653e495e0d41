// The server's internals, shared by server.cpp (listener, drain, the event
// loop for storage), server_session.cpp (one connection: read, hand over,
// answer) and server_reply.cpp (writing a reply). Boost.Asio and Beast:
// include it only from those files. Private to http/.
#pragma once

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

inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

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

  std::unique_ptr<FdWatch> watch(int fd) override;  // server.cpp
  unsigned threads() const override { return std::max(1u, options.threads); }
};

}  // namespace restd::http
