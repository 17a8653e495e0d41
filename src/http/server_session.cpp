// One connection: wait for a request, read it within its limits and
// timeouts, hand it to the Handler, answer, and again.
#include "http/server_impl.h"

namespace restd::http {

namespace {

// One connection's state, for the life of its session coroutine (which owns
// it; every member coroutine runs inside that session, on its executor).
class Connection {
 public:
  Connection(Server::Impl& server, tcp::socket socket)
      : server_(server),
        options_(server.options),
        socket_(std::move(socket)),
        reader_(ReaderLimits{options_.headerLimit, options_.urlLimit, options_.maxBodyBytes, options_.bodylessPostPath}),
        deadline_(socket_),
        request_(reader_.request()),
        pending_(std::make_shared<PendingReply>()) {
    beast::error_code peerEc;
    peer_ = socket_.remote_endpoint(peerEc).address().to_string();
    request_.clientAddress = peer_;
  }

  asio::awaitable<void> run() {
    // One client address may hold only so many connections: past that, one
    // client (4,000 connections that each send a byte, say) could otherwise
    // keep everyone else waiting. Refused at once, before reading anything.
    Server::Impl::ClientSlot slot(server_, peer_);
    if (!slot.admitted()) {
      co_await refuseUnread(Reason::overloaded);
      co_return;
    }
    for (;;) {
      if (!co_await nextRequestArrives()) co_return;
      fresh_ = false;
      Clock::time_point start = Clock::now();
      reader_.startRequest();  // the previous request's views die here
      bool closed = false;
      // The header within headerTimeout, the body within idleTimeout.
      if (!co_await readPart(&RequestReader::readHeader, options_.headerTimeout, start, closed)) co_return;
      // A request is in flight from its complete header to the last byte of
      // its reply: connections still sending a header cost a read and a
      // timer, and the per-client cap bounds them. Liveness is never shed.
      InFlightGuard guard(server_.inFlight);
      if (guard.value() > options_.maxInFlight && request_.path != options_.neverShedPath) {
        Response r = server_.handler.protocolError(Reason::overloaded, request_);
        r.closeConnection = true;
        co_await server_.sendReply(socket_, deadline_, head_, request_, std::move(r), reader_.version(), false, false,
                                   {}, start, closed);
        co_return;
      }
      if (continueNeeded() && !co_await sendContinue()) co_return;
      if (!co_await readPart(&RequestReader::readBody, options_.idleTimeout, start, closed)) co_return;
      Response response = co_await answer();
      co_await server_.sendReply(socket_, deadline_, head_, request_, std::move(response), reader_.version(),
                                 reader_.isHead(), reader_.keepAlive(), reader_.acceptEncoding(), start, closed);
      if (closed) co_return;
    }
  }

 private:
  asio::awaitable<beast::error_code> readMore() {
    std::span<char> room = reader_.prepare(RequestReader::kReadSize);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(room.data(), room.size()), kNoThrow);
    if (!ec) reader_.commit(n);
    co_return ec;
  }

  // Waits for the first byte of the next request (unless bytes of it are
  // already buffered): the idle keep-alive timeout applies between
  // requests, the header timeout on a fresh connection. False: close (the
  // client left, a timeout, or the server drains).
  asio::awaitable<bool> nextRequestArrives() {
    if (reader_.buffered() > 0) co_return true;
    if (!fresh_ && server_.draining.load()) co_return false;
    // Wait for readability first: an idle connection then holds no read
    // buffer (10,000 idle keep-alive connections must stay cheap). Bytes
    // already there (a busy client): read them at once. Otherwise free the
    // buffer and wait for readability before taking one again.
    beast::error_code ec;
    std::span<char> room = reader_.prepare(4096);
    size_t n = socket_.read_some(asio::buffer(room.data(), room.size()), ec);
    if (ec == asio::error::would_block) {
      deadline_.arm(fresh_ ? options_.headerTimeout : options_.idleTimeout);
      reader_.shrinkIfEmpty();
      auto [wec] = co_await socket_.async_wait(tcp::socket::wait_read, kNoThrow);
      ec = wec;
      if (!ec) ec = co_await readMore();
    } else if (!ec) {
      reader_.commit(n);
    }
    deadline_.disarm();
    if (!ec) co_return true;
    if (deadline_.fired() && fresh_) {
      reader_.startRequest();
      co_await refuseUnread(Reason::request_timeout);
    }
    co_return false;
  }

  // The client waits for 100 Continue before it sends the body.
  bool continueNeeded() const {
    return !reader_.bodyComplete() && reader_.continueExpected() && reader_.buffered() == 0;
  }
  asio::awaitable<bool> sendContinue() {
    bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, reader_.version()};
    deadline_.arm(options_.idleTimeout);
    auto [cec, cn] = co_await bhttp::async_write(socket_, cont, kNoThrow);
    deadline_.disarm();
    co_return !cec;
  }

  // Reads until `read` (the header's or the body's step) has what it needs,
  // within `timeout`. False: the connection is done (refused or gone).
  asio::awaitable<bool> readPart(RequestReader::Step (RequestReader::*read)(), std::chrono::milliseconds timeout,
                                 Clock::time_point start, bool& closed) {
    RequestReader::Step step = (reader_.*read)();
    if (step == RequestReader::Step::needMore) deadline_.arm(timeout);
    while (step == RequestReader::Step::needMore) {
      if (beast::error_code ec = co_await readMore()) {
        deadline_.disarm();
        if (deadline_.fired()) co_await refuse(Reason::request_timeout, start, closed);
        co_return false;  // else the client went away mid-request: nothing to answer
      }
      step = (reader_.*read)();
    }
    deadline_.disarm();
    if (step == RequestReader::Step::failed) {
      co_await refuse(reader_.failure(), start, closed);
      co_return false;
    }
    co_return true;
  }

  // Replies to a request refused at the protocol level, then closes.
  asio::awaitable<void> refuse(Reason reason, Clock::time_point start, bool& closed) {
    if (request_.requestId.empty()) {
      newRequestId(fallbackId_);
      request_.requestId = fallbackId_;
    }
    Response r = server_.handler.protocolError(reason, request_);
    r.closeConnection = true;
    co_await server_.sendReply(socket_, deadline_, head_, request_, std::move(r), reader_.version(), false, false, {},
                               start, closed);
    if (!closed) {
      beast::error_code ignored;
      socket_.close(ignored);
    }
  }

  // A refusal before any request was read (the per-client cap, a fresh
  // connection's header timeout): HTTP/1.1, then close.
  asio::awaitable<void> refuseUnread(Reason reason) {
    newRequestId(fallbackId_);
    request_.requestId = fallbackId_;
    Response r = server_.handler.protocolError(reason, request_);
    r.closeConnection = true;
    bool closed = false;
    co_await server_.sendReply(socket_, deadline_, head_, request_, std::move(r), 11, false, false, {}, Clock::now(),
                               closed);
  }

  // Hands the request to the Handler and waits for its reply, rendered
  // here (Response::render) when it came unrendered from another thread.
  asio::awaitable<Response> answer() {
    pending_->reset();
    try {
      server_.handler.handle(request_, [pending = pending_](Response r) { pending->deliver(std::move(r)); });
    } catch (const std::exception& e) {
      logInternalError(request_.requestId, e.what());
      pending_->deliver(server_.handler.protocolError(Reason::internal, request_));
    }
    Response response;
    if (pending_->ready()) {
      response = pending_->takeResponse();
    } else {
      // Answered from another thread: resume this coroutine on its executor.
      response = co_await asio::async_initiate<decltype(asio::use_awaitable), void(Response)>(
          [&](auto completion) {
            auto shared = std::make_shared<decltype(completion)>(std::move(completion));
            pending_->onReply([shared](Response r) {
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
        logInternalError(request_.requestId, e.what());
        response = server_.handler.protocolError(Reason::internal, request_);
      }
    }
    co_return response;
  }

  Server::Impl& server_;
  const ServerOptions& options_;
  tcp::socket socket_;
  RequestReader reader_;
  Deadline deadline_;  // after socket_: it holds a reference to it
  Request& request_;   // reader_'s
  std::string peer_;
  std::string head_;        // reused from reply to reply (its capacity stays)
  std::string fallbackId_;  // the request id of a request refused before it had one
  std::shared_ptr<PendingReply> pending_;
  bool fresh_ = true;  // no request read yet
};

}  // namespace

asio::awaitable<void> Server::Impl::session(tcp::socket socket) {
  Connection connection(*this, std::move(socket));
  co_await connection.run();
}

}  // namespace restd::http
