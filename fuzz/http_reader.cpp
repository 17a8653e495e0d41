// Fuzzes the HTTP request reader: arbitrary bytes, delivered in arbitrary
// read sizes, under small limits so that every limit is reachable. Checks the
// reader's contracts: it never throws, its buffer stays within the header
// limit plus one read, and a refusal always names a reason.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "http/request_reader.h"

using restd::http::ReaderLimits;
using restd::http::RequestReader;
using Step = RequestReader::Step;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the read size (1..256 bytes per read).
  size_t chunk = static_cast<size_t>(data[0]) + 1;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  ReaderLimits limits;
  limits.headerLimit = 1024;
  limits.urlLimit = 256;
  limits.maxBodyBytes = 4096;
  RequestReader reader(limits);
  size_t offset = 0;
  auto more = [&] {
    if (offset >= input.size()) return false;
    size_t n = std::min(chunk, input.size() - offset);
    auto room = reader.prepare(n);
    std::memcpy(room.data(), input.data() + offset, n);
    reader.commit(n);
    offset += n;
    return true;
  };
  auto bounded = [&] {
    if (reader.buffered() > limits.headerLimit + 4 + RequestReader::kReadSize + chunk) std::abort();
  };
  more();
  for (int requests = 0; requests < 64; ++requests) {
    reader.startRequest();
    Step s = reader.readHeader();
    while (s == Step::needMore && more()) {
      bounded();
      s = reader.readHeader();
    }
    if (s != Step::ready) break;
    const auto& r = reader.request();
    if (r.method.empty() || r.requestId.empty()) std::abort();
    s = reader.readBody();
    while (s == Step::needMore && more()) {
      bounded();
      s = reader.readBody();
    }
    if (s != Step::ready) break;
    if (reader.request().body.size() > limits.maxBodyBytes) std::abort();
    if (reader.buffered() == 0 && !more()) break;
  }
  return 0;
}
