// Point reads (GET one record) sent to PostgreSQL from the I/O threads
// without blocking them: one libpq connection in non-blocking pipeline mode,
// its socket watched by the server's event loop (common/event_loop.h).
//
// Why: a read through the pool hands the request to a storage thread and
// the reply back, two thread switches and a PostgreSQL backend woken per
// request. Here the reads that arrive in one turn of the loop go out in one
// write with one Sync, one backend answers them all, and their replies are
// rendered on the I/O thread as they arrive.
//
// Each statement runs alone in READ COMMITTED, so a read sees every write
// committed before it was sent, on any node. A read that fails takes the
// others of its batch down with it (PostgreSQL skips to the Sync); those,
// and every read in flight when the connection is lost, are answered by
// get() on a storage thread instead, so nobody sees an error that was not
// theirs. While the oldest read in flight has waited longer than
// kStallAfter (a table locked by another client), get() says no and new
// reads take the pool, so one locked table does not hold up the others.
//
// Thread safety: get() from any thread; everything else in the watch's
// sequence or on the pipeline's own storage thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/event_loop.h"
#include "common/worker_pool.h"
#include "store/postgres/pg_store.h"

namespace restd::store {

class PgPipeline {
 public:
  struct Setup {
    // Opens a connection (blocking: called on the pipeline's storage thread).
    std::function<std::unique_ptr<PgConnection>(std::string& error)> open;
    // Each collection's name and the SQL of its point read (prepared on
    // every connection the pipeline opens).
    std::vector<std::pair<std::string, std::string>> statements;
    // The blocking read, for reads the pipeline could not finish.
    std::function<Status(const CollectionSpec&, std::string_view, Record&, SlugScope)> get;
  };
  static constexpr std::chrono::milliseconds kStallAfter{100};

  // Starts connecting on its own storage thread; get() says no until then.
  PgPipeline(EventLoop& loop, Setup setup);
  // Only once the loop has stopped. Reads still in flight are dropped
  // unanswered (their connections are gone with the loop).
  ~PgPipeline();
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;

  // Store::getAsync().
  bool get(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, GetDone& done);
  // Reads answered from the pipeline, and reads handed to get() instead.
  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  uint64_t redone() const { return redone_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    const CollectionSpec* collection = nullptr;
    const std::string* statement = nullptr;  // the prepared read's name on this connection
    std::string key;                         // id or slug
    std::string owner;
    bool anyOwner = true;
    GetDone done;
  };

  // In the watch's sequence:
  void install();                // takes the connection the storage thread opened
  void flush();                  // sends what get() queued, with one Sync
  void sendOut();                // pushes libpq's output buffer to the socket
  void onReadable();
  void readResults();
  void lose(const char* why);    // the connection is gone: redo its reads, reopen
  void redo(Entry e);            // answers `e` with get() on the storage thread

  // On the storage thread:
  void reopen();

  EventLoop& loop_;
  const Setup setup_;
  std::unordered_map<std::string, std::string> names_;  // collection -> prepared statement name
  WorkerPool storageThread_{1};
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;
  std::vector<Entry> incoming_;                  // guarded by mutex_: queued by get(), not yet sent
  bool flushPosted_ = false;                     // guarded by mutex_
  std::unique_ptr<FdWatch> watch_;               // guarded by mutex_ (set and reset in the sequence)
  std::unique_ptr<PgConnection> opened_;         // guarded by mutex_: from reopen() to install()
  std::unique_ptr<FdWatch> openedWatch_;         // guarded by mutex_: likewise

  // The watch's sequence only:
  std::unique_ptr<PgConnection> conn_;
  std::vector<Entry> batch_;
  std::deque<Entry> sent_;                       // sent, answers awaited in order
  std::deque<int64_t> syncs_;                    // each Sync in flight: when its batch was sent (steady ns)
  bool writeArmed_ = false;                      // a write wait is started (a read wait always is)

  std::atomic<int64_t> oldestSent_{0};           // steady ns of the oldest batch in flight; 0: none
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> redone_{0};
};

}  // namespace restd::store
