// The listener, drain and the event loop for storage, with Boost.Asio. One
// io_context run by N threads; each connection is a coroutine on its own
// strand: read -> handle -> write -> read (server_session.cpp), replies are
// written by server_reply.cpp. Beast's parser lives in request_reader.cpp.
// Only these files include Asio or Beast (server_impl.h): compile cost, and
// the HTTP layer's details stay here. Every limit and framing rule is the
// RequestReader's; the session adds the timeouts, the per-client cap and
// shedding.
//
// Pipelining: requests are answered strictly in order, one at a time per
// connection; bytes of the next pipelined request wait in the read buffer, so
// the queue of pending responses is bounded at one by construction.
#include "http/server_impl.h"

namespace restd::http {

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

std::unique_ptr<FdWatch> Server::Impl::watch(int fd) {
  return std::make_unique<AsioFdWatch>(ioc, fd, options.threads > 1);
}

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
