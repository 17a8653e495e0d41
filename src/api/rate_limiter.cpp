#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace restd::api {

using namespace std::chrono_literals;

RateLimiter::RateLimiter(int64_t perMinute, store::Store& store)
    : perMinute_(perMinute),
      perSecond_(static_cast<double>(perMinute) / 60.0),
      chunk_(std::clamp<int64_t>(perMinute / 20, 1, 1000)),
      store_(store),
      shared_(store.sharesRateLimits()) {}

double RateLimiter::refilled(double tokens, Clock::time_point since, Clock::time_point now) const {
  double seconds = std::chrono::duration<double>(now - since).count();
  return std::min(static_cast<double>(perMinute_), tokens + perSecond_ * std::max(0.0, seconds));
}

RateDecision RateLimiter::decision(bool allowed, double left) const {
  RateDecision d;
  d.allowed = allowed;
  d.limit = perMinute_;
  left = std::clamp(left, 0.0, static_cast<double>(perMinute_));
  d.remaining = static_cast<int64_t>(std::floor(left));
  d.resetSeconds = static_cast<int64_t>(std::ceil((static_cast<double>(perMinute_) - left) / perSecond_));
  if (!allowed) d.retryAfter = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - left) / perSecond_)));
  return d;
}

RateLimiter::Bucket& RateLimiter::bucketFor(Shard& shard, std::string_view key, Clock::time_point now) {
  auto it = shard.buckets.find(key);
  if (it != shard.buckets.end()) return it->second;
  if (shard.buckets.size() >= kMaxKeysPerShard)
    std::erase_if(shard.buckets, [&](const auto& kv) { return kv.second.leased == 0 && now - kv.second.lastUse >= 1s; });
  Bucket fresh;
  fresh.tokens = static_cast<double>(perMinute_);
  fresh.sharedLeft = fresh.tokens;
  fresh.stamp = now;
  return shard.buckets.emplace(std::string(key), fresh).first->second;
}

RateDecision RateLimiter::take(std::string_view key, Clock::time_point now) { return *takeFrom(key, now, true); }

std::optional<RateDecision> RateLimiter::takeNow(std::string_view key, Clock::time_point now) {
  return takeFrom(key, now, false);
}

std::optional<RateDecision> RateLimiter::takeFrom(std::string_view key, Clock::time_point now, bool mayWait) {
  if (!enabled()) return RateDecision{};
  Shard& shard = shards_[StringHash{}(key) % kShards];
  std::unique_lock lock(shard.mutex);
  Bucket& b = bucketFor(shard, key, now);
  if (shared_) return takeShared(shard, lock, key, now, mayWait);
  b.lastUse = now;
  b.tokens = refilled(b.tokens, b.stamp, now);
  b.stamp = now;
  if (b.tokens < 1.0) return decision(false, b.tokens);
  b.tokens -= 1.0;
  return decision(true, b.tokens);
}

std::optional<RateDecision> RateLimiter::takeShared(Shard& shard, std::unique_lock<std::mutex>& lock,
                                                    std::string_view key, Clock::time_point now, bool mayWait) {
  Bucket* b = &bucketFor(shard, key, now);
  if (b->leased > 0) {
    b->lastUse = now;
    --b->leased;
    return decision(true, static_cast<double>(b->leased) + refilled(b->sharedLeft, b->stamp, now));
  }
  if (!mayWait) return std::nullopt;
  b->lastUse = now;
  // Out of leased tokens: ask the database, without holding the shard (a
  // round trip must not hold up other keys).
  lock.unlock();
  store::RateGrant grant;
  Status e = store_.takeRateTokens(key, static_cast<double>(perMinute_), perSecond_, chunk_, grant);
  lock.lock();
  b = &bucketFor(shard, key, now);  // returnIdle may have dropped it meanwhile
  if (e) return decision(true, refilled(b->sharedLeft, b->stamp, now));
  b->leased += grant.granted;
  b->sharedLeft = grant.left;
  b->stamp = now;
  if (b->leased == 0) return decision(false, grant.left);
  --b->leased;
  return decision(true, static_cast<double>(b->leased) + grant.left);
}

void RateLimiter::returnIdle(Clock::time_point now) {
  if (!enabled()) return;
  std::vector<std::pair<std::string, int64_t>> unspent;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      Bucket& b = it->second;
      if (b.leased > 0 && now - b.lastUse >= 1s) {
        unspent.emplace_back(it->first, b.leased);
        b.leased = 0;
      }
      // A minute without use refills any bucket: forgetting it changes nothing.
      if (b.leased == 0 && now - b.lastUse >= 60s) it = shard.buckets.erase(it);
      else ++it;
    }
  }
  // Tokens that fail to go back are lost to the shared bucket until it
  // refills: it grants less for a moment, never more.
  for (const auto& [key, n] : unspent) (void)store_.returnRateTokens(key, static_cast<double>(perMinute_), n);
}

}  // namespace restd::api
