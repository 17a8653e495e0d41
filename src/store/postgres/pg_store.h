// PostgreSQL storage (SPEC §9) through libpq: the schema and SQL of
// store/sql/ in PostgreSQL's dialect, a pool of at most `pool_size`
// connections for reads, and one writer connection that groups concurrent
// writes into shared commits, as SQLite's writer does.
//
// Several restd nodes may share one database. What makes them one server
// lives in it: users, keys, tokens and idempotency keys are tables read
// fresh (token owners are cached per node, and a trigger's NOTIFY at every
// change empties all nodes' caches: see findToken); writes lock what they
// read (SELECT ... FOR UPDATE) so concurrent nodes never lose an update; an
// idempotency key or slug being claimed is held by a transaction-scoped
// advisory lock, so two nodes racing on one key write once (an import holds
// one lock for all of a collection's slugs instead: reserveSlugs); the
// migration runs under an advisory lock, so nodes starting together migrate
// once.
//
// Calls block on the network: Store::blocking() is true, and the API runs
// requests for this store on worker threads, never on I/O threads, except
// point reads (getAsync), which go out pipelined from the I/O threads once
// a loop is attached (pg_pipeline.h): one connection per I/O thread, taken
// from the pool's `pool_size` when the pool keeps at least one for the rest.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/sql/sql_builder.h"
#include "store/store.h"
#include "store/write_queue.h"

namespace restd::store {

// A PGresult that clears itself.
struct PgResult {
  PGresult* res = nullptr;
  PgResult() = default;
  explicit PgResult(PGresult* r) : res(r) {}
  PgResult(PgResult&& o) noexcept : res(o.res) { o.res = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    if (this != &o) {
      if (res) PQclear(res);
      res = o.res;
      o.res = nullptr;
    }
    return *this;
  }
  ~PgResult() {
    if (res) PQclear(res);
  }
  int rows() const { return res ? PQntuples(res) : 0; }
};

// Parameters in libpq's text format, which reads each as a C string: every
// value is kept here (escaped where needed, see pg_store.cpp) until the
// statement has run.
class PgParams {
 public:
  void null(int i) { slot(i) = nullptr; }
  void integer(int i, int64_t v);
  void real(int i, double v);
  void text(int i, std::string_view t);
  void add(const SqlValue& v);  // the next parameter
  int count() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  void clear();

 private:
  const char*& slot(int i);  // 1-based
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::deque<std::string> owned_;  // a deque: growing it moves no string
};

// One libpq connection with its prepared statements. Not thread-safe: used
// by one thread at a time (a lease from the pool, or the writer).
class PgConnection {
 public:
  static std::unique_ptr<PgConnection> open(const std::string& url, const StorageConfig& config, std::string& error);
  ~PgConnection();
  PGconn* raw() const { return conn_; }
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // Runs `sql` (prepared on first use and kept) with `params`; on failure
  // returns the error, with the result in `out` either way.
  Status run(const std::string& sql, const PgParams& params, PgResult& out);
  Status run(const std::string& sql, const std::vector<SqlValue>& params, PgResult& out);
  // The same without preparing (statements that vary with their input's size).
  Status runOnce(const std::string& sql, const PgParams& params, PgResult& out);
  // A command without parameters (may hold several statements).
  Status exec(const char* sql);

 private:
  explicit PgConnection(PGconn* c) : conn_(c) {}
  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
};

class PgPipeline;

class PgStore final : public Store {
 public:
  // `url` is any libpq connection URI or string. Returns nullptr and sets
  // `error` when the first connection cannot be made.
  static std::unique_ptr<PgStore> open(const std::string& url, const StorageConfig& config, std::string& error);
  ~PgStore() override;

  std::string_view engine() const override { return "postgres"; }
  bool blocking() const override { return true; }
  unsigned poolSize() const override { return config_.poolSize; }
  bool ready() override;
  bool migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) override;
  using Store::get;
  Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) override;
  bool getAsync(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, GetDone& done) override;
  void attachLoop(EventLoop& loop) override;
  void detachLoop() override;
  Status list(const CollectionSpec& c, const ListQuery& q, ListResult& out) override;
  void submitWrite(WriteJob job, WriteDone done) override;
  void close() override;
  Status findUser(std::string_view userName, User& out) override;
  Status listUsers(std::vector<User>& out) override;
  Status findApiKey(std::string_view keyHash, ApiKey& out) override;
  Status listApiKeys(std::vector<ApiKey>& out) override;
  Status findToken(std::string_view tokenHash, int64_t nowMillis, TokenOwner& out) override;
  bool cachedToken(std::string_view tokenHash, int64_t nowMillis, TokenOwner& out) override;
  Status loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) override;
  Status readSetting(std::string_view key, std::optional<std::string>& out) override;
  Status readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) override;
  Status eventBounds(int64_t& oldest, int64_t& newest) override;
  void onForeignEvents(std::function<void()> wake) override;
  Status readSnapshot(const std::function<Status(ReadSnapshot&)>& fn) override;
  void registerMetrics(Metrics& m) const override;
  bool sharesRateLimits() const override { return true; }
  Status takeRateTokens(std::string_view key, double capacity, double perSecond, int64_t want,
                       RateGrant& out) override;
  Status returnRateTokens(std::string_view key, double capacity, int64_t n) override;

 private:
  class Txn;
  PgStore(std::string url, StorageConfig config);

  // A pooled connection: waits while `pool_size` are leased (requests beyond
  // the pool wait, never fail); opens one when none is idle. nullptr and
  // `error` when PostgreSQL cannot be reached.
  std::unique_ptr<PgConnection> acquire(std::string& error);
  void release(std::unique_ptr<PgConnection> c);
  // Runs `fn` with a pooled connection; a connection the call broke is dropped.
  template <typename Fn>
  Status withConnection(Fn&& fn);

  void writerLoop();
  // One group of jobs in one transaction on the writer's connection.
  bool runGroup(std::vector<WriteQueue::Pending>& group);

  const sql::CollectionSql& sqlFor(const CollectionSpec& c) const { return sql_.at(c.name); }
  std::unordered_map<std::string, sql::CollectionSql> sql_;  // filled by migrate(), read-only after

  std::string url_;
  StorageConfig config_;

  mutable std::mutex poolMutex_;
  std::condition_variable poolCv_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by poolMutex_
  unsigned leased_ = 0;                              // guarded by poolMutex_
  unsigned waiting_ = 0;                             // guarded by poolMutex_: in acquire()
  bool closed_ = false;                              // guarded by poolMutex_
  // One per I/O thread; each holds one of the pool's connections.
  std::vector<std::unique_ptr<PgPipeline>> pipelines_;  // guarded by poolMutex_; set before serving

  // Token owners, valid while authGeneration_ stays where it was when they
  // were read (see findToken and listenLoop).
  struct CachedToken {
    TokenOwner owner;
    uint64_t generation = 0;
  };
  void listenLoop();
  std::atomic<uint64_t> authGeneration_{0};
  std::atomic<bool> listening_{false};   // a LISTEN connection is up: caching is safe
  std::atomic<int> forgetCountdown_{0};  // returnRateTokens calls until old buckets are swept
  std::mutex eventWakeMutex_;
  std::function<void()> eventWake_;  // guarded by eventWakeMutex_; called by listenLoop on restd_events
  std::atomic<bool> stopListening_{false};
  int wakeFd_ = -1;                      // eventfd: stops listenLoop()
  std::thread listenThread_;
  std::mutex tokenMutex_;
  std::unordered_map<std::string, CachedToken> tokens_;  // token hash -> owner; guarded by tokenMutex_

  // Used by the writer thread's groups and by migrate(), under writerMutex_.
  std::unique_ptr<PgConnection> writer_;
  std::mutex writerMutex_;
  WriteQueue queue_;
  std::thread writerThread_;
};

}  // namespace restd::store
