// SQLite storage (SPEC §9): WAL, one table per collection with a typed column
// per declared field, unique indexes, prepared statements only, and one
// writer thread that groups concurrent writes into shared commits.
#pragma once

#include <sqlite3.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/string_hash.h"
#include "store/sql/sql_builder.h"
#include "store/store.h"
#include "store/write_queue.h"

namespace restd::store {

// One SQLite connection with its statement cache. Not thread-safe: used by
// one thread at a time (the writer, or a reader holding a lease).
class SqliteConnection {
 public:
  // `create`: make the file when it is missing (the writer's connection,
  // at start). Readers never do: one opened while the file is gone (moved
  // away by an operator) would create an empty database at the path and
  // keep reading it after the real file is put back.
  static std::unique_ptr<SqliteConnection> open(const std::string& path, const StorageConfig& config,
                                                std::string& error, bool create = false);
  ~SqliteConnection();
  sqlite3* db() const { return db_; }
  // A cached prepared statement for `sql`, reset and unbound; nullptr on error.
  sqlite3_stmt* prepare(const std::string& sql);
  bool exec(const char* sql);
  // PRAGMA data_version: changes when another connection commits. Inside a
  // read snapshot it cannot change, so it is asked once per snapshot.
  int64_t dataVersion();

  // A reader's read transaction, kept open across requests (see
  // SqliteStore::acquireReader). Used by whichever thread holds the
  // connection, or by the writer thread while the connection is idle: taken
  // out of its reader slot by exchange, or in the pool under readersMutex_.
  bool beginSnapshot(uint64_t generation);
  void endSnapshot();
  bool inSnapshot() const { return inSnapshot_; }
  uint64_t statistics = 0;  // SqliteStore::statisticsGeneration_ when this connection opened
  uint64_t snapshotGeneration() const { return snapshotGeneration_; }
  int64_t snapshotAgeMillis() const;
  // List totals remembered at a data_version, by their count statement and
  // its parameters (`key`; at most kCountsKept, then forgotten all at once).
  std::optional<int64_t> cachedCount(const std::string& key, int64_t version) const;
  void rememberCount(const std::string& key, int64_t version, int64_t count);
  static constexpr size_t kCountsKept = 256;
  // List pages (records and whether more follow) remembered at a
  // data_version, by their page statement and its parameters (`key`, as
  // for counts). A read of the tables is kept only the second time the
  // same key is read at the same version, so pages read once (a walk
  // through `page=N`) cost no copy; a commit anywhere forgets them all.
  // Bounded by kPagesKept keys and kPageBytesKept bytes per connection,
  // then forgotten all at once. cachedPage's pointer is valid until the
  // next rememberPage on this connection.
  const ListResult* cachedPage(const std::string& key, int64_t version) const;
  void rememberPage(const std::string& key, int64_t version, const ListResult& page);
  static constexpr size_t kPagesKept = 64;
  static constexpr size_t kPageBytesKept = 256 * 1024;
  // Token owners remembered at a data_version (any commit anywhere invalidates them).
  const TokenOwner* cachedToken(std::string_view tokenHash, int64_t version) const;
  void rememberToken(std::string_view tokenHash, int64_t version, const TokenOwner& owner);

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  bool inSnapshot_ = false;
  uint64_t snapshotGeneration_ = 0;
  int64_t snapshotStartMs_ = 0;
  int64_t snapshotDataVersion_ = -1;  // -1: not asked yet in this snapshot
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> counts_;  // count key -> (data_version, count)
  std::unordered_map<std::string, std::pair<int64_t, TokenOwner>, StringHash, std::equal_to<>> tokens_;  // token hash -> (data_version, owner)
  std::unordered_map<std::string, std::unique_ptr<ListResult>> pages_;  // page key -> page (null: read once so far)
  int64_t pagesVersion_ = -1;  // the data_version of every entry in pages_
  size_t pagesBytes_ = 0;
};

class SqliteStore final : public Store {
 public:
  // `path` is a file path or ":memory:". Returns nullptr and sets `error` on failure.
  static std::unique_ptr<SqliteStore> open(const std::string& path, const StorageConfig& config, std::string& error);
  ~SqliteStore() override;

  std::string_view engine() const override { return "sqlite"; }
  bool ready() override;
  bool migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) override;
  using Store::get;
  Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) override;
  Status list(const CollectionSpec& c, const ListQuery& q, ListResult& out) override;
  void submitWrite(WriteJob job, WriteDone done) override;
  void close() override;
  Status findUser(std::string_view userName, User& out) override;
  Status listUsers(std::vector<User>& out) override;
  Status findApiKey(std::string_view keyHash, ApiKey& out) override;
  Status listApiKeys(std::vector<ApiKey>& out) override;
  Status findToken(std::string_view tokenHash, int64_t nowMillis, TokenOwner& out) override;
  Status loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) override;
  Status readSetting(std::string_view key, std::optional<std::string>& out) override;
  Status readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) override;
  Status eventBounds(int64_t& oldest, int64_t& newest) override;
  Status readSnapshot(const std::function<Status(ReadSnapshot&)>& fn) override;
  void registerMetrics(Metrics& m) const override { queue_.registerMetrics(m); }

 protected:
  // The online backup API, a few MiB per step from one read transaction, so
  // the copy is of one instant while the server goes on writing.
  Status copyInto(const Config& config, const std::string& path, const ProgressFn& progress) override;

 private:
  class Txn;
  class Snapshot;

  SqliteStore(std::string path, StorageConfig config, std::unique_ptr<SqliteConnection> writer);
  // Filled by migrate(), which runs before any other use; read-only afterwards.
  const sql::CollectionSql& sqlFor(const CollectionSpec& c) const;
  std::unordered_map<std::string, sql::CollectionSql> sql_;

  bool fileHealthy();          // the database file is still there, the same, and writable
  bool fileHealthyCached();    // same, re-checked at most every 200 ms
  void writerLoop();
  // The planner's statistics for `index = true` fields (sqlite_stat1,
  // statistics.cpp). Without them an equality on any indexed field looks
  // selective to SQLite, and a filtered page sorted on another indexed
  // field sorts every match instead of walking that field's index
  // (docs/records.md "Indexes"). refreshStatistics() runs on the writer
  // thread after a group's replies, and writes them once the rows changed
  // since the last time reach a threshold that doubles each time (1,000,
  // 2,000, 4,000 … up to a million); migrate() writes them at start.
  void refreshStatistics();
  void writeStatistics();  // the caller holds memoryMutex_ for an in-memory database
  int64_t changesAtStatistics_ = 0;   // writer thread only
  int64_t statisticsAfter_ = 1000;    // writer thread only
  // Each collection with `index = true` fields, and those fields; set by migrate().
  std::vector<std::pair<std::string, std::vector<std::string>>> indexedFields_;
  // Reader connections load the statistics when they open: one older than
  // the last change of them is closed and opened anew (acquireReader).
  std::atomic<uint64_t> statisticsGeneration_{0};
  void logWriterError(const std::string& what, bool fromSqlite = true) const;
  // A reader connection inside a read snapshot that is no older than the last
  // commit of this process and at most kSnapshotMaxAgeMs old: consecutive
  // reads share one SQLite read transaction instead of taking and dropping
  // the WAL read lock (two fcntl calls) for every statement. `failed` ends
  // the snapshot on release.
  // `fresh`: start a new snapshot regardless (reads that must see other
  // processes' commits at once, e.g. an API key just made with the CLI).
  std::unique_ptr<SqliteConnection> acquireReader(std::string& error, bool fresh = false);
  void releaseReader(std::unique_ptr<SqliteConnection> c, bool failed = false);
  // After each commit: idle readers drop their snapshots, so they neither
  // serve stale data nor hold back checkpoints.
  void endIdleSnapshots();
  static constexpr int64_t kSnapshotMaxAgeMs = 50;  // a backstop; see watchLoop()
  std::atomic<uint64_t> commitGeneration_{0};
  // Other processes (the CLI, sqlite3) commit by writing the -wal file: an
  // inotify watch on it ends the snapshots as soon as they do. Without a
  // working watch, every read takes a fresh snapshot (the plain behaviour).
  bool startWatch();
  void watchLoop();
  std::atomic<bool> watching_{false};
  int watchFd_ = -1;  // inotify
  int wakeFd_ = -1;   // eventfd: stops watchLoop()
  std::thread watchThread_;
  // Runs `fn` with a reader connection (the writer's, locked, in memory mode).
  template <typename Fn>
  Status withReader(Fn&& fn, bool fresh = false);

  std::string path_;   // "" for in-memory
  StorageConfig config_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  std::atomic<int64_t> lastCheckMs_{0};
  std::atomic<bool> lastHealthy_{true};

  std::mutex readersMutex_;
  std::vector<std::unique_ptr<SqliteConnection>> readers_;  // idle reader connections; guarded
  // Before the pool, each thread parks its last reader in a slot of its own
  // (threads beyond kReaderSlots share them): a GET takes and returns two
  // leases (token, record), and through the pool that was four acquisitions
  // of one process-wide mutex. A slot holds an owned, idle connection or
  // nullptr; whoever exchanges it out has the connection to itself, the
  // owning thread or endIdleSnapshots() on the writer thread. Emptied (and
  // deleted) by the destructor.
  static constexpr size_t kReaderSlots = 16;
  std::array<std::atomic<SqliteConnection*>, kReaderSlots> readerSlots_{};
  std::atomic<SqliteConnection*>& readerSlot();  // the calling thread's
  void parkInPool(std::unique_ptr<SqliteConnection> c);

  std::unique_ptr<SqliteConnection> writer_;  // used only by the writer thread (and by migrate before it runs)
  // In-memory mode: the writer's connection also serves reads, one user at a time.
  std::mutex memoryMutex_;
  WriteQueue queue_;
  std::thread writerThread_;
};

}  // namespace restd::store
