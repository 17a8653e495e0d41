#include "auth/lockout.h"

#include <algorithm>

namespace restd::auth {

std::optional<int64_t> Lockout::lockedFor(const std::vector<int64_t>& failures, int64_t attempts, int64_t windowMs,
                                          int64_t nowMs) {
  if (static_cast<int64_t>(failures.size()) < attempts) return std::nullopt;
  // Free again when enough failures have aged out to drop below the limit.
  int64_t freeAt = failures[failures.size() - static_cast<size_t>(attempts)] + windowMs;
  if (freeAt <= nowMs) return std::nullopt;
  return std::max<int64_t>(1, (freeAt - nowMs + 999) / 1000);
}

Lockout::Check Lockout::check(const std::string& key, int64_t nowMs) const {
  Check c;
  std::vector<int64_t> failures;
  if (auto e = store_.loginFailures(key, nowMs - windowMs_, failures)) {
    c.storageDown = true;
    return c;
  }
  c.anyFailures = !failures.empty();
  c.lockedFor = lockedFor(failures, attempts_, windowMs_, nowMs);
  return c;
}

Status Lockout::recordFailure(store::WriteTxn& txn, const std::string& key, int64_t nowMs) const {
  return txn.addLoginFailure(key, nowMs, nowMs - windowMs_);
}

Status Lockout::reset(store::WriteTxn& txn, const std::string& key) const { return txn.clearLoginFailures(key); }

}  // namespace restd::auth
