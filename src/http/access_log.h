// The access log of SPEC §7: one JSON line per request.
// Thread-safe: write() may be called from any I/O thread. Lines are buffered
// and written by a background thread every 100 ms (or when 64 KiB gather), so
// a request costs no system call; the destructor writes what is left.
#pragma once

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
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
  void flush();

  void write(const AccessRecord& r);

 private:
  void flusherLoop();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;   // guarded by mutex_
  bool stopping_ = false; // guarded by mutex_
  FILE* out_ = nullptr;   // null = off; written only under writeMutex_
  std::mutex writeMutex_;
  std::string writing_;   // the lines being written; guarded by writeMutex_
  bool ownsFile_ = false;
  std::thread flusher_;
};

}  // namespace restd::http
