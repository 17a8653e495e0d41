// The queue between the threads that submit writes and an engine's one
// writer thread, shared by both engines: jobs wait here, and the writer takes
// everything queued (up to kMaxGroup) as one group, one transaction, one
// commit. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "store/store.h"

namespace restd::store {

class WriteQueue {
 public:
  static constexpr size_t kMaxGroup = 1024;
  struct Pending {
    WriteJob job;
    WriteDone done;
  };

  // Queues the job; after close() it is refused at once with done(false).
  void push(WriteJob job, WriteDone done) {
    {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        queue_.push_back(Pending{std::move(job), std::move(done)});
        cv_.notify_one();
        return;
      }
    }
    done(false);
  }
  // Waits for jobs and moves them into `group`; false once closed and empty
  // (queued jobs are still handed out after close(), so they finish).
  bool takeGroup(std::vector<Pending>& group) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    while (!queue_.empty() && group.size() < kMaxGroup) {
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return true;
  }
  // Refuses new jobs and wakes the writer; false when it was closed already.
  bool close() {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    closed_ = true;
    cv_.notify_all();
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;  // guarded by mutex_
  bool closed_ = false;        // guarded by mutex_
};

}  // namespace restd::store
