// The change feed on this node (SPEC §10 "Events"): the subscribers of
// GET /{collection}/events, fed from the storage's event log.
//
// Writes add their events to the log in their own transaction
// (store::WriteTxn::appendEvent), so the log is the truth: one reader thread
// here reads what is new (woken by this node's commits, by other nodes'
// NOTIFY on PostgreSQL, and polling every 25 ms while anyone listens, which
// also finds other processes' writes to a SQLite file) and hands each event,
// formatted once, to every subscriber that may see it. A subscriber resuming
// from Last-Event-ID is first given what it missed, from the log, in order.
//
// Each subscriber buffers at most kMaxBuffered bytes: a slower client is
// ended with a `retry:` hint and reconnects with Last-Event-ID, so memory
// never grows with a slow consumer. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "api/handler.h"
#include "common/metrics.h"
#include "config/config.h"
#include "store/store.h"

namespace restd::api {

class EventHub {
 public:
  static constexpr size_t kMaxBuffered = 64 * 1024;
  static constexpr int64_t kReadBatch = 500;

  // Who listens, and to what.
  struct Viewer {
    std::string collection;
    std::optional<std::string> owner;     // only this owner's records' events (owner visibility)
    std::function<bool()> stillAllowed;   // asked about once a second; false ends the stream
  };

  EventHub(store::Store& store, const EventsConfig& config, Metrics* metrics);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A new stream: live from now (no lastEventId), or resuming after
  // *lastEventId. nullptr when max_subscribers streams are open. `error` is
  // set (and nullptr returned) when the storage cannot be read.
  std::shared_ptr<Stream> subscribe(Viewer viewer, std::optional<int64_t> lastEventId, bool& storageDown);

  // Something may have been committed: read the log now.
  void wake();
  // Ends every stream and stops the reader (idempotent).
  void shutdown();

 private:
  class Subscriber;
  void run();
  // Reads what is new in the log and delivers it (on a storage error, what it could).
  void readNew();
  void catchUp(Subscriber& s);
  // Hands one new event to every live subscriber that may see it.
  void deliver(const store::StoredEvent& e);
  void recheck();
  void prune();
  std::chrono::seconds pruneInterval() const;

  store::Store& store_;
  const EventsConfig config_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  // Owned by their connections (Response::stream): one they dropped expires here.
  std::list<std::weak_ptr<Subscriber>> subscribers_;  // guarded by mutex_
  std::atomic<size_t> count_{0};
  int64_t head_ = 0;  // guarded by mutex_: the newest seq the reader has delivered
  std::thread reader_;
};

}  // namespace restd::api
