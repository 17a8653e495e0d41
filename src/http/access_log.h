// The access log of SPEC §7: one JSON line per request.
// Thread-safe: write() may be called from any I/O thread.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace restd::http {

struct AccessRecord {
  std::string_view requestId;
  std::string_view method;
  std::string_view target;   // raw target; access_token is redacted on write
  int status = 0;
  size_t bytes = 0;          // body bytes sent
  double durationSeconds = 0;
};

class AccessLog {
 public:
  // `destination`: "stdout", "off", or a file path (appended to).
  // Returns false (and logs to stderr) when the file cannot be opened.
  bool open(const std::string& destination);
  ~AccessLog();

  void write(const AccessRecord& r);
  // Internal details of a failure (never sent to clients), on stderr with the request id.
  static void internalError(std::string_view requestId, std::string_view what);

 private:
  std::mutex mutex_;
  FILE* out_ = nullptr;  // guarded by mutex_ for writes; null = off
  bool ownsFile_ = false;
};

}  // namespace restd::http
