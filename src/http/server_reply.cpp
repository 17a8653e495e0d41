// Writing a reply: the head, 304s, gzip in slices, streams (the change
// feed), and the lingering close after a refused request.
#include "http/server_impl.h"

namespace restd::http {

namespace {

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

// Long by design: the order of a reply's steps (304, gzip, head, body,
// log, close) is the contract; each step is a few lines.
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
  bool hasVary = r.varies;
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

}  // namespace restd::http
