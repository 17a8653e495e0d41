// The progress bar of long command-line copies (`restd export`, `import`,
// `backup`; SPEC §1): redrawn on standard error at most ten times a second
// when it is a terminal, silent otherwise; finish() writes the one-line
// summary either way. Used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace restd {

class ProgressBar {
 public:
  // `what` names the copy ("export things", "backup"); `toTerminal`: draw
  // the bar (normally isatty(2)).
  ProgressBar(std::string what, bool toTerminal);
  // `done` of `total` units (total 0: unknown; then `bytesTotal`, when known,
  // gives the fraction and the ETA), `bytes` written or read so far.
  void update(int64_t done, int64_t total, int64_t bytes, const char* unit, int64_t bytesTotal = 0);
  // Clears the bar and writes `summary` + its rate, e.g.
  // "exported 1000000 records (212.4 MB) in 3.1 s, 322,580 records/s"
  // (unit "bytes": "…, 120.5 MB/s").
  void finish(const std::string& summary, int64_t done, const char* unit);
  // Clears the bar (before an error line).
  void clear();
  double elapsedSeconds() const;

 private:
  std::string what_;
  bool toTerminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point lastDraw_;
};

// "12.3 MB", "850 kB", "17 B" (decimal units, as `ls -h --si` prints them).
std::string humanBytes(int64_t bytes);

}  // namespace restd
