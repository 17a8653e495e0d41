// Login lock-out (SPEC §4, §10): after `attempts` failures for one key (a
// user name or a client address) within `window`, further attempts are
// refused until the oldest counted failure leaves the window. Refused
// attempts are not failures and do not extend it. Thread-safe; in memory
// (per node).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace restd::auth {

class Lockout {
 public:
  Lockout(int64_t attempts, std::chrono::seconds window) : attempts_(attempts), windowMs_(window.count() * 1000) {}

  // Seconds until `key` may try again, or nullopt when it may try now.
  std::optional<int64_t> lockedFor(const std::string& key, int64_t nowMs);
  void recordFailure(const std::string& key, int64_t nowMs);
  void reset(const std::string& key);

 private:
  void prune(std::deque<int64_t>& failures, int64_t nowMs) const;
  int64_t attempts_;
  int64_t windowMs_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<int64_t>> failures_;  // guarded by mutex_
};

}  // namespace restd::auth
