// The request reader on its own: bytes in, steps and requests out.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>

#include "http/request_reader.h"

using restd::Reason;
using restd::http::ReaderLimits;
using restd::http::RequestReader;
using Step = RequestReader::Step;

namespace {

void put(RequestReader& r, std::string_view bytes) {
  auto room = r.prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  r.commit(bytes.size());
}

// Runs both phases over everything buffered: ready, or the failure reason.
Step readAll(RequestReader& r) {
  r.startRequest();
  Step s = r.readHeader();
  if (s != Step::ready) return s;
  return r.readBody();
}

}  // namespace

TEST(RequestReader, ReadsPipelinedRequestsInOrder) {
  RequestReader r(ReaderLimits{});
  put(r, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(readAll(r), Step::ready);
  EXPECT_EQ(r.request().method, "POST");
  EXPECT_EQ(r.request().body, "{}");
  ASSERT_EQ(readAll(r), Step::ready);
  EXPECT_EQ(r.request().path, "/b");
  EXPECT_EQ(r.request().query, "q=1");
  EXPECT_EQ(r.buffered(), 0u);
}

TEST(RequestReader, ChunkedBodyAndSmallTrailer) {
  RequestReader r(ReaderLimits{});
  put(r, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Sum: 1\r\n\r\n");
  ASSERT_EQ(readAll(r), Step::ready);
  EXPECT_EQ(r.request().body, "{}");
  EXPECT_FALSE(r.request().hasHeader("X-Sum"));  // trailers never pose as headers
}

TEST(RequestReader, RefusesEveryAmbiguousTransferEncoding) {
  for (const char* te : {"xchunked", "gzip", "identity", "chunked, identity", "chunked, chunked", ""}) {
    RequestReader r(ReaderLimits{});
    put(r, std::string("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + te + "\r\n\r\n");
    ASSERT_EQ(readAll(r), Step::failed) << te;
    EXPECT_EQ(r.failure(), Reason::bad_request) << te;
  }
  RequestReader r(ReaderLimits{});
  put(r, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  ASSERT_EQ(readAll(r), Step::failed);
  EXPECT_EQ(r.failure(), Reason::not_implemented);
}

TEST(RequestReader, HostExactlyOnceInHttp11) {
  for (const char* req : {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"}) {
    RequestReader r(ReaderLimits{});
    put(r, req);
    ASSERT_EQ(readAll(r), Step::failed);
    EXPECT_EQ(r.failure(), Reason::bad_request);
  }
  RequestReader r(ReaderLimits{});
  put(r, "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(readAll(r), Step::ready);
}

TEST(RequestReader, ExtensionsAndTrailersCountTowardTheHeaderLimit) {
  ReaderLimits limits;
  limits.headerLimit = 1024;
  RequestReader r(limits);
  put(r, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;e=");
  r.startRequest();
  ASSERT_EQ(r.readHeader(), Step::ready);
  Step s = r.readBody();
  for (int i = 0; i < 100 && s == Step::needMore; ++i) {
    put(r, std::string(100, 'e'));
    s = r.readBody();
    EXPECT_LE(r.buffered(), limits.headerLimit + RequestReader::kReadSize);
  }
  ASSERT_EQ(s, Step::failed);
  EXPECT_EQ(r.failure(), Reason::headers_too_large);
}

TEST(RequestReader, TrailerOver64KiBIsAnErrorNotAnException) {
  ReaderLimits limits;
  limits.headerLimit = 200000;  // even with a limit above Beast's own field limit
  limits.maxBodyBytes = 1 << 20;
  RequestReader r(limits);
  put(r, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: " +
             std::string(70000, 'v') + "\r\n\r\n");
  EXPECT_EQ(readAll(r), Step::failed);
  EXPECT_EQ(r.failure(), Reason::headers_too_large);
}

TEST(RequestReader, InvalidUtf8InTargetAndHeadersBecomesReplacementCharacters) {
  RequestReader r(ReaderLimits{});
  put(r, "GET /a\xff/b HTTP/1.1\r\nHost: x\r\nX-Name: \xc0\xaf\r\n\r\n");
  ASSERT_EQ(readAll(r), Step::ready);
  EXPECT_EQ(r.request().target, "/a\xEF\xBF\xBD/b");
  EXPECT_EQ(r.request().header("X-Name"), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(RequestReader, LimitsGive414And431And413) {
  {
    RequestReader r(ReaderLimits{});
    put(r, "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(readAll(r), Step::failed);
    EXPECT_EQ(r.failure(), Reason::uri_too_long);
  }
  {
    RequestReader r(ReaderLimits{});
    put(r, "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(17000, 'a') + "\r\n\r\n");
    ASSERT_EQ(readAll(r), Step::failed);
    EXPECT_EQ(r.failure(), Reason::headers_too_large);
  }
  {
    RequestReader r(ReaderLimits{});
    put(r, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
    ASSERT_EQ(readAll(r), Step::failed);
    EXPECT_EQ(r.failure(), Reason::payload_too_large);
  }
}

// Found while fuzzing: the header search restarted at the first byte on
// every read, so a header sent a byte at a time cost its size squared.
TEST(RequestReader, AHeaderArrivingAByteAtATimeIsScannedOnce) {
  ReaderLimits limits;
  limits.headerLimit = 512 * 1024;
  RequestReader r(limits);
  std::string header = "GET / HTTP/1.1\r\nHost: x";
  for (int i = 0; i < 400; ++i) header += "\r\nX-H" + std::to_string(i) + ": " + std::string(1000, 'a');
  r.startRequest();
  auto start = std::chrono::steady_clock::now();
  for (char c : header) {
    put(r, std::string_view(&c, 1));
    ASSERT_EQ(r.readHeader(), Step::needMore);
  }
  put(r, "\r\n\r\n");
  EXPECT_EQ(r.readHeader(), Step::ready);
  // Linear: a few milliseconds. Quadratic was 8 * 10^10 byte comparisons.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}
