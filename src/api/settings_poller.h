// The settings every node shares through the store (SPEC §9): the
// maintenance flag, read twice a second so that `restd maintenance on`
// reaches every node within 2 s even when one poll is slow. Each poll also
// runs `alsoEachPoll` (the rate limiter returns idle leases). Thread-safe:
// retryAfter() from any thread; the poll runs on a thread of its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace restd::api {

class SettingsPoller {
 public:
  // Reads the settings once before returning (a node started during
  // maintenance answers 503 from its first request), then polls.
  SettingsPoller(store::Store& store, std::function<void()> alsoEachPoll);
  ~SettingsPoller() { stop(); }
  SettingsPoller(const SettingsPoller&) = delete;
  SettingsPoller& operator=(const SettingsPoller&) = delete;

  // Maintenance's Retry-After seconds while it is on, -1 while off.
  int64_t retryAfter() const { return retryAfter_.load(std::memory_order_relaxed); }
  const std::atomic<int64_t>& maintenance() const { return retryAfter_; }
  // Stops polling (idempotent).
  void stop();

 private:
  void read();
  void loop();

  store::Store& store_;
  std::function<void()> alsoEachPoll_;
  std::atomic<int64_t> retryAfter_{-1};  // written by the poll only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // last: started once the rest is ready
};

}  // namespace restd::api
