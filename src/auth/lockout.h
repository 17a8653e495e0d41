// Login lock-out (SPEC §4, §10): after `attempts` failures for one key (a
// user name or a client address) within `window`, further attempts are
// refused until the oldest counted failure leaves the window. Refused
// attempts are not failures and do not extend it.
//
// The failures live in the storage (SPEC §9), so every node of a cluster
// counts the same ones; this class holds only the rule. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

namespace restd::auth {

class Lockout {
 public:
  Lockout(store::Store& store, int64_t attempts, std::chrono::seconds window)
      : store_(store), attempts_(attempts), windowMs_(window.count() * 1000) {}

  struct Check {
    std::optional<int64_t> lockedFor;  // seconds until `key` may try again, when locked
    bool anyFailures = false;          // failures in the window (a success clears them)
    bool storageDown = false;          // the failures could not be read
  };
  Check check(const std::string& key, int64_t nowMs) const;
  // Write-job steps, run inside the caller's transaction.
  Status recordFailure(store::WriteTxn& txn, const std::string& key, int64_t nowMs) const;
  Status reset(store::WriteTxn& txn, const std::string& key) const;

  // The rule alone: `failures` are the times in the window, oldest first.
  static std::optional<int64_t> lockedFor(const std::vector<int64_t>& failures, int64_t attempts, int64_t windowMs,
                                          int64_t nowMs);

 private:
  store::Store& store_;
  int64_t attempts_;
  int64_t windowMs_;
};

}  // namespace restd::auth
