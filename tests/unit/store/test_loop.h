// A small poll(2) event loop for tests of code that waits on sockets through
// restd::EventLoop (the server's is Asio's; this one runs on the test's own
// thread, one turn at a time, so a test decides when its reads go out).
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/event_loop.h"

namespace restd::testing {

class TestLoop final : public EventLoop {
 public:
  TestLoop() : wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~TestLoop() override { ::close(wake_); }

  std::unique_ptr<FdWatch> watch(int fd) override {
    auto w = std::make_unique<Watch>(*this, fd);
    std::lock_guard lock(mutex_);
    watches_.push_back(w.get());
    return w;
  }
  unsigned threads() const override { return 1; }

  // Runs turns (posted functions, then the waits whose sockets are ready)
  // until `done()` or `timeout`; returns done().
  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      turn(10);
    }
    return true;
  }
  // One turn, waiting at most `ms` for a socket.
  void turn(int ms) {
    std::deque<std::function<void()>> now;
    {
      std::lock_guard lock(mutex_);
      now.swap(posted_);
    }
    for (auto& fn : now) fn();
    std::vector<pollfd> fds{{wake_, POLLIN, 0}};
    std::vector<Watch*> who{nullptr};
    {
      std::lock_guard lock(mutex_);
      for (Watch* w : watches_) {
        short events = static_cast<short>((w->onRead ? POLLIN : 0) | (w->onWrite ? POLLOUT : 0));
        if (!events) continue;
        fds.push_back({w->fd, events, 0});
        who.push_back(w);
      }
    }
    if (::poll(fds.data(), fds.size(), now.empty() ? ms : 0) <= 0) return;
    uint64_t n;
    if (fds[0].revents) [[maybe_unused]] ssize_t r = ::read(wake_, &n, sizeof n);
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents || !alive(who[i])) continue;  // an earlier callback destroyed it
      bool in = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      bool out = fds[i].revents & (POLLOUT | POLLERR | POLLHUP);
      if (in && who[i]->onRead) std::exchange(who[i]->onRead, nullptr)();
      if (out && alive(who[i]) && who[i]->onWrite) std::exchange(who[i]->onWrite, nullptr)();
    }
  }

 private:
  struct Watch final : FdWatch {
    Watch(TestLoop& l, int f) : loop(l), fd(f) {}
    ~Watch() override {
      *alive = false;  // what it posted and has not run yet is dropped (FdWatch's contract)
      std::lock_guard lock(loop.mutex_);
      loop.watches_.erase(std::find(loop.watches_.begin(), loop.watches_.end(), this));
    }
    void post(std::function<void()> fn) override {
      loop.post([a = alive, fn = std::move(fn)] {
        if (*a) fn();
      });
    }
    void whenReadable(std::function<void()> fn) override { onRead = std::move(fn); }
    void whenWritable(std::function<void()> fn) override { onWrite = std::move(fn); }
    TestLoop& loop;
    int fd;
    std::function<void()> onRead, onWrite;
    std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  };
  void post(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(fn));
    uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_, &one, sizeof one);
  }
  bool alive(Watch* w) {
    std::lock_guard lock(mutex_);
    return std::find(watches_.begin(), watches_.end(), w) != watches_.end();
  }

  int wake_;
  std::mutex mutex_;
  std::deque<std::function<void()>> posted_;  // guarded by mutex_
  std::vector<Watch*> watches_;               // guarded by mutex_
};

}  // namespace restd::testing
