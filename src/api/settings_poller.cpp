#include "api/settings_poller.h"

#include <charconv>
#include <chrono>
#include <optional>
#include <string>

namespace restd::api {

namespace {

// A maintenance flag's stored value: Retry-After seconds.
int64_t parseRetryAfter(const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && p == v.data() + v.size() && n >= 0 ? n : 60;
}

}  // namespace

SettingsPoller::SettingsPoller(store::Store& store, std::function<void()> alsoEachPoll)
    : store_(store), alsoEachPoll_(std::move(alsoEachPoll)) {
  read();
  thread_ = std::thread([this] { loop(); });
}

void SettingsPoller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SettingsPoller::read() {
  std::optional<std::string> value;
  if (store_.readSetting("maintenance", value)) return;  // unreachable: keep what we knew
  retryAfter_.store(value ? parseRetryAfter(*value) : -1, std::memory_order_relaxed);
}

void SettingsPoller::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; })) {
    lock.unlock();
    read();
    if (alsoEachPoll_) alsoEachPoll_();
    lock.lock();
  }
}

}  // namespace restd::api
