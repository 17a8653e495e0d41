// Rate limits (SPEC §7, §10): a bucket of `requests_per_minute` tokens per
// key (a user, or a client address), refilling continuously.
//
// With one process on the storage (SQLite) the buckets live here. When the
// storage shares them (PostgreSQL: every node on one database draws on one
// bucket per key), a node leases tokens from the database in small chunks
// and spends them locally, so a request costs a round trip only once per
// chunk. Nodes never together spend more than the bucket holds (no
// overshoot); tokens a node leased but did not spend are given back after a
// second of disuse (returnIdle), so the undershoot is at most one chunk per
// node for about a second. docs/operations.md has the figures.
//
// Thread-safe. take() may wait on the storage only when the store is
// blocking(), i.e. on the request threads that may wait anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/string_hash.h"
#include "store/store.h"

namespace restd::api {

struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;         // requests per minute (the bucket's size)
  int64_t remaining = 0;     // whole tokens left after this request
  int64_t resetSeconds = 0;  // until the bucket is full again
  int64_t retryAfter = 0;    // refused: seconds until one token is back (>= 1)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // `perMinute` 0 turns limiting off. `store` is asked for leases only when
  // it sharesRateLimits().
  RateLimiter(int64_t perMinute, store::Store& store);
  bool enabled() const { return perMinute_ > 0; }

  // Spends one of `key`'s tokens, or refuses. A storage failure while
  // leasing lets the request through (the request itself then meets the
  // same storage and answers 502).
  RateDecision take(std::string_view key, Clock::time_point now = Clock::now());
  // take() when it needs no storage round trip (local buckets, or a shared
  // one with leased tokens left); nullopt, with nothing spent, otherwise.
  std::optional<RateDecision> takeNow(std::string_view key, Clock::time_point now = Clock::now());

  // Gives leases idle for a second back to the shared buckets and forgets
  // buckets that are full again. Called about twice a second.
  void returnIdle(Clock::time_point now = Clock::now());

  // Tokens leased per database round trip: a twentieth of the bucket,
  // between 1 and 1000.
  int64_t chunk() const { return chunk_; }

 private:
  struct Bucket {
    double tokens = 0;          // local mode: the bucket itself
    int64_t leased = 0;         // shared mode: tokens leased and not yet spent
    double sharedLeft = 0;      // shared mode: what the database held after the last lease
    Clock::time_point stamp{};  // when `tokens` / `sharedLeft` was read
    Clock::time_point lastUse{};
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket, StringHash, std::equal_to<>> buckets;  // guarded by mutex
  };
  static constexpr size_t kShards = 16;
  // Past this many keys in one shard (a flood of addresses), buckets idle
  // for a second are dropped at once instead of after a minute.
  static constexpr size_t kMaxKeysPerShard = 65536;

  // The key's bucket (a new one is full); the caller holds shard.mutex.
  Bucket& bucketFor(Shard& shard, std::string_view key, Clock::time_point now);
  std::optional<RateDecision> takeFrom(std::string_view key, Clock::time_point now, bool mayWait);
  std::optional<RateDecision> takeShared(Shard& shard, std::unique_lock<std::mutex>& lock, std::string_view key,
                                         Clock::time_point now, bool mayWait);
  RateDecision decision(bool allowed, double left) const;
  double refilled(double tokens, Clock::time_point since, Clock::time_point now) const;

  const int64_t perMinute_;
  const double perSecond_;
  const int64_t chunk_;
  store::Store& store_;
  const bool shared_;
  Shard shards_[kShards];
};

}  // namespace restd::api
