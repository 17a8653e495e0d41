// The queue between the threads that submit writes and an engine's one
// writer thread, shared by both engines: jobs wait here, and the writer takes
// everything queued (up to kMaxGroup) as one group, one transaction, one
// commit. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "common/metrics.h"
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
        depth_.store(queue_.size(), std::memory_order_relaxed);
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
    depth_.store(queue_.size(), std::memory_order_relaxed);
    // Group sizes by powers of two: bucket b holds sizes up to 2^b.
    groupSizes_[std::bit_width(group.size() - 1)].fetch_add(1, std::memory_order_relaxed);
    jobs_.fetch_add(group.size(), std::memory_order_relaxed);
    return true;
  }

  // The queue depth and commit group sizes, for /metrics.
  void registerMetrics(Metrics& m) const {
    m.addGauge({"restd_write_queue_depth", "Write jobs waiting for the writer.", "gauge",
                [this] { return static_cast<double>(depth_.load(std::memory_order_relaxed)); }});
    m.addHistogram({"restd_commit_group_size", "Write jobs committed together in one transaction.",
                    [this](std::vector<double>& bounds, std::vector<uint64_t>& cumulative, double& sum,
                           uint64_t& count) {
                      uint64_t running = 0;
                      for (size_t b = 0; b < groupSizes_.size(); ++b) {
                        running += groupSizes_[b].load(std::memory_order_relaxed);
                        bounds.push_back(static_cast<double>(size_t{1} << b));
                        cumulative.push_back(running);
                      }
                      count = running;
                      sum = static_cast<double>(jobs_.load(std::memory_order_relaxed));
                    }});
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
  std::atomic<size_t> depth_{0};
  std::array<std::atomic<uint64_t>, 11> groupSizes_{};  // 1, 2, 4, ... 1024 (kMaxGroup)
  std::atomic<uint64_t> jobs_{0};
};

}  // namespace restd::store
