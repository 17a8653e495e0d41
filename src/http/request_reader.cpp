#include "http/request_reader.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <deque>
#include <list>
#include <optional>

#include "common/ids.h"
#include "common/utf8.h"

namespace restd::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

using Parser = bhttp::request_parser<bhttp::string_body>;
using BeastRequest = bhttp::request<bhttp::string_body>;

std::string_view view(const beast::flat_buffer& buffer) {
  auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

// Where the header block ends (index past the blank line), or npos; the
// search starts at `from` (a blank line cannot end before it).
size_t headerEnd(std::string_view all, size_t from) {
  size_t crlf = all.find("\r\n\r\n", from);
  size_t lf = all.find("\n\n", from);
  size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos && (end == std::string_view::npos || lf + 2 < end)) end = lf + 2;
  return end;
}

bool looksLikeHttpVersion(std::string_view line) {
  size_t p = line.rfind(" HTTP/");
  return p != std::string_view::npos && p + 6 < line.size() && line[p + 6] >= '0' && line[p + 6] <= '9';
}

// Feeds what the buffer holds to the parser and drops what it used. Beast
// throws on some hostile input (a trailer field over 64 KiB: std::length_error
// "field value too large"); no exception from parsing may leave the reader,
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
// closed, so no byte of a body is ever read as the next request. A final
// chunked after another coding (`gzip, chunked`) is well framed but asks for
// a coding restd does not decode: 501.
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

struct RequestReader::Impl {
  beast::flat_buffer buffer;
  std::optional<Parser> parser;
  size_t headerBytes = 0;     // size of the header block, once found
  size_t extensionBytes = 0;  // chunk extensions seen so far
  size_t budget = 0;          // what is left of the header limit for extensions and trailers
  // How far the header search has looked, so a header arriving a byte at a
  // time is scanned once in all, not once per read (which is quadratic).
  size_t scanned = 0;
  size_t lineEnd = std::string_view::npos;  // index of the request line's '\n', once seen
  std::string requestId, cleanTarget;
  // A list: views into it stay valid as it grows, and an empty one owns no
  // memory (a deque holds a block even when empty: idle connections add up).
  std::list<std::string> cleanHeaders;
  // Called by Beast for each chunk header; stored by address, so it lives here.
  std::function<void(std::uint64_t, beast::string_view, beast::error_code&)> onChunkHeader;
};

RequestReader::RequestReader(ReaderLimits limits) : impl_(std::make_unique<Impl>()), limits_(limits) {
  impl_->onChunkHeader = [this](std::uint64_t, beast::string_view extensions, beast::error_code& ec) {
    impl_->extensionBytes += extensions.size();
    if (impl_->extensionBytes > impl_->budget) ec = bhttp::error::header_limit;
  };
}

RequestReader::~RequestReader() = default;

std::span<char> RequestReader::prepare(size_t n) {
  auto b = impl_->buffer.prepare(n);
  return {static_cast<char*>(b.data()), b.size()};
}

void RequestReader::commit(size_t n) { impl_->buffer.commit(n); }
size_t RequestReader::buffered() const { return impl_->buffer.size(); }
void RequestReader::shrinkIfEmpty() {
  if (impl_->buffer.size() != 0) return;
  // Between requests nothing of the last one is needed (startRequest makes
  // a new parser anyway): its fields and body go too.
  impl_->buffer.shrink_to_fit();
  impl_->parser.reset();
}

void RequestReader::startRequest() {
  Impl& m = *impl_;
  m.parser.reset();
  m.parser.emplace();
  m.parser->header_limit(static_cast<std::uint32_t>(limits_.headerLimit + 4));
  m.parser->body_limit(limits_.maxBodyBytes);
  m.headerBytes = m.extensionBytes = m.budget = m.scanned = 0;
  m.lineEnd = std::string_view::npos;
  m.requestId.clear();
  m.cleanHeaders.clear();
  // Field by field, so the header vector keeps its capacity (no allocation
  // per request on a keep-alive connection).
  request_.headers.clear();
  request_.method = request_.target = request_.path = request_.query = request_.body = request_.requestId = {};
  request_.version = 11;
  failure_ = Reason::internal;
  continueExpected_ = false;
}

bool RequestReader::headerParsed() const { return impl_->parser && impl_->parser->is_header_done(); }
bool RequestReader::bodyComplete() const { return impl_->parser && impl_->parser->is_done(); }
bool RequestReader::keepAlive() const { return headerParsed() && impl_->parser->get().keep_alive(); }
bool RequestReader::isHead() const { return headerParsed() && impl_->parser->get().method() == bhttp::verb::head; }
unsigned RequestReader::version() const {
  return headerParsed() && impl_->parser->get().version() == 10 ? 10 : 11;
}
std::string_view RequestReader::acceptEncoding() const {
  return headerParsed() ? std::string_view(impl_->parser->get()[bhttp::field::accept_encoding]) : std::string_view{};
}

// Long by design: every framing rule of RFC 9112 for the head, in the
// order they are checked (each refusal's reason depends on that order).
RequestReader::Step RequestReader::readHeader() {
  Impl& m = *impl_;
  // Collect the whole header block first, so the limits apply to the raw
  // bytes: a request line over urlLimit is 414, a header block over
  // headerLimit 431.
  std::string_view all = view(m.buffer);
  size_t from = m.scanned;
  size_t end = headerEnd(all, from >= 3 ? from - 3 : 0);
  if (m.lineEnd == std::string_view::npos) m.lineEnd = all.find('\n', from);
  m.scanned = all.size();
  std::string_view line = all.substr(0, m.lineEnd);  // the request line as received (414 or 431?)
  if (line.size() > limits_.urlLimit + 16) return fail(Reason::uri_too_long);
  if (end == std::string_view::npos) {
    if (all.size() > limits_.headerLimit) return fail(Reason::headers_too_large);
    return Step::needMore;
  }
  if (end > limits_.headerLimit + 4) return fail(Reason::headers_too_large);
  m.headerBytes = end;

  // The header block is complete in the buffer: one put() parses all of it.
  Parser& parser = *m.parser;
  beast::error_code ec;
  feed(parser, m.buffer, ec);
  if (!ec && !parser.is_header_done()) ec = bhttp::error::partial_message;
  if (ec) {
    if (ec == bhttp::error::body_limit) return fail(Reason::payload_too_large);
    if (ec == bhttp::error::header_limit) return fail(Reason::headers_too_large);
    if (ec == bhttp::error::bad_version)
      return fail(looksLikeHttpVersion(line) ? Reason::http_version_not_supported : Reason::bad_request);
    return fail(Reason::bad_request);
  }

  BeastRequest& req = parser.get();
  request_.method = req.method_string();
  // Request text enters the program here: bytes that are not UTF-8 become
  // U+FFFD, so the target and header values can be echoed into JSON, XML
  // and the log.
  request_.target = sanitizedUtf8(req.target(), m.cleanTarget);
  size_t qpos = request_.target.find('?');
  request_.path = request_.target.substr(0, qpos);
  request_.query = qpos == std::string_view::npos ? std::string_view{} : request_.target.substr(qpos + 1);
  request_.version = req.version() == 10 ? 10 : 11;
  std::string_view clientId = req["X-Request-Id"];
  if (isSaneRequestId(clientId)) m.requestId.assign(clientId);
  else newRequestId(m.requestId);
  request_.requestId = m.requestId;
  // The headers as sent, before any body: trailers never pose as headers.
  for (const auto& field : req) {
    std::string_view value = field.value();
    if (!isValidUtf8(value)) {
      m.cleanHeaders.emplace_back();
      appendSanitizedUtf8(m.cleanHeaders.back(), value);
      value = m.cleanHeaders.back();
    }
    request_.headers.emplace_back(field.name_string(), value);
  }

  if (req.version() != 10 && req.version() != 11) return fail(Reason::http_version_not_supported);
  if (request_.target.size() > limits_.urlLimit) return fail(Reason::uri_too_long);
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never two in any version.
  size_t hosts = req.count(bhttp::field::host);
  if (hosts > 1 || (hosts == 0 && req.version() == 11)) return fail(Reason::bad_request);
  if (Framing f = checkTransferEncoding(req); f != Framing::ok)
    return fail(f == Framing::unsupported ? Reason::not_implemented : Reason::bad_request);
  bool hasLength = req.count(bhttp::field::content_length) > 0;
  bool hasEncoding = req.count(bhttp::field::transfer_encoding) > 0;
  auto verb = req.method();
  auto bodylessPost = [&] {
    std::string_view p = request_.path, want = limits_.bodylessPostPath;
    if (want.empty() || !p.starts_with(want)) return false;
    p.remove_prefix(want.size());
    return p.empty() || p == ".json" || p == ".xml";
  };
  if ((verb == bhttp::verb::post || verb == bhttp::verb::put || verb == bhttp::verb::patch) && !hasLength &&
      !hasEncoding && !(verb == bhttp::verb::post && bodylessPost()))
    return fail(Reason::length_required);
  if (req.count(bhttp::field::expect) > 0) {
    if (!iequals(req[bhttp::field::expect], "100-continue")) return fail(Reason::expectation_failed);
    continueExpected_ = true;
  }
  // Chunk extensions and trailers count toward the header limit with the
  // header block itself (SPEC §7).
  m.budget = limits_.headerLimit > end ? limits_.headerLimit - end : 0;
  parser.on_chunk_header(m.onChunkHeader);
  parser.eager(true);
  return Step::ready;
}

RequestReader::Step RequestReader::readBody() {
  Impl& m = *impl_;
  Parser& parser = *m.parser;
  if (!parser.is_done()) {
    beast::error_code ec;
    if (m.buffer.size() > 0) feed(parser, m.buffer, ec);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec) {
      if (ec == bhttp::error::body_limit) return fail(Reason::payload_too_large);
      if (ec == bhttp::error::header_limit) return fail(Reason::headers_too_large);
      return fail(Reason::bad_request);
    }
    if (!parser.is_done()) {
      // What the parser could not consume is one incomplete chunk-size line
      // or the trailer block: it may never outgrow what is left of the header
      // limit, so the buffer stays bounded.
      if (m.buffer.size() + m.extensionBytes > m.budget) return fail(Reason::headers_too_large);
      return Step::needMore;
    }
  }
  request_.body = parser.get().body();
  return Step::ready;
}

}  // namespace restd::http
