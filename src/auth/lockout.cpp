#include "auth/lockout.h"

namespace restd::auth {

void Lockout::prune(std::deque<int64_t>& f, int64_t nowMs) const {
  while (!f.empty() && f.front() <= nowMs - windowMs_) f.pop_front();
}

std::optional<int64_t> Lockout::lockedFor(const std::string& key, int64_t nowMs) {
  std::lock_guard lock(mutex_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return std::nullopt;
  prune(it->second, nowMs);
  if (static_cast<int64_t>(it->second.size()) < attempts_) return std::nullopt;
  // Free again when enough failures have aged out to drop below the limit.
  int64_t freeAt = it->second[it->second.size() - static_cast<size_t>(attempts_)] + windowMs_;
  return std::max<int64_t>(1, (freeAt - nowMs + 999) / 1000);
}

void Lockout::recordFailure(const std::string& key, int64_t nowMs) {
  std::lock_guard lock(mutex_);
  if (failures_.size() > 100'000) {
    // Bound the memory an attacker can make us spend: forget keys with nothing in the window.
    for (auto it = failures_.begin(); it != failures_.end();) {
      prune(it->second, nowMs);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
  }
  auto& f = failures_[key];
  prune(f, nowMs);
  f.push_back(nowMs);
  while (static_cast<int64_t>(f.size()) > attempts_) f.pop_front();
}

void Lockout::reset(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

}  // namespace restd::auth
