#include "store/sqlite/sqlite_store.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/json.h"
#include "common/time.h"
#include "store/sql/account_txn.h"
#include "store/sql/record_codec.h"
#include "store/sql/schema_plan.h"

namespace restd::store {
namespace {

// ---------------------------------------------------------------- helpers

Status statusOf(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
      return Status::unavailable;
    default:
      return Status::internal;
  }
}

Error sqlError(sqlite3* db, int rc) {
  Error e;
  e.status = statusOf(rc);
  e.detail = std::string("sqlite: ") + sqlite3_errmsg(db);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    e.status = Status::uniqueViolation;
    // "UNIQUE constraint failed: things.code" or, per owner,
    // "UNIQUE constraint failed: things.code, things.owner": the first column.
    std::string msg = sqlite3_errmsg(db);
    size_t colon = msg.find(": ");
    std::string first = colon == std::string::npos ? std::string() : msg.substr(colon + 2);
    first = first.substr(0, first.find(','));
    size_t dot = first.find('.');
    e.field = dot == std::string::npos ? "id" : first.substr(dot + 1);
  }
  return e;
}

void bindValue(sqlite3_stmt* st, int i, const SqlValue& v) {
  if (std::holds_alternative<std::monostate>(v)) sqlite3_bind_null(st, i);
  else if (auto* n = std::get_if<int64_t>(&v)) sqlite3_bind_int64(st, i, *n);
  else if (auto* d = std::get_if<double>(&v)) sqlite3_bind_double(st, i, *d);
  else {
    const auto& s = std::get<std::string>(v);
    sqlite3_bind_text64(st, i, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
}

// Resets a cached statement when it leaves scope.
struct StmtGuard {
  sqlite3_stmt* st;
  ~StmtGuard() {
    if (st) {
      sqlite3_reset(st);
      sqlite3_clear_bindings(st);
    }
  }
};

// ---------------------------------------------------------------- columns

// The record codec's Binder and Row (store/sql/record_codec.h) over one
// statement: text is bound SQLITE_STATIC, without a copy.
struct SqliteBinder {
  sqlite3_stmt* st;
  void null(int i) { sqlite3_bind_null(st, i); }
  void integer(int i, int64_t v) { sqlite3_bind_int64(st, i, v); }
  void real(int i, double v) { sqlite3_bind_double(st, i, v); }
  void text(int i, std::string_view t) { sqlite3_bind_text64(st, i, t.data(), t.size(), SQLITE_STATIC, SQLITE_UTF8); }
};

struct SqliteRow {
  sqlite3_stmt* st;
  bool isNull(int c) const { return sqlite3_column_type(st, c) == SQLITE_NULL; }
  bool isInteger(int c) const { return sqlite3_column_type(st, c) == SQLITE_INTEGER; }
  int64_t integer(int c) const { return sqlite3_column_int64(st, c); }
  double real(int c) const { return sqlite3_column_double(st, c); }
  std::string_view text(int c) const {
    const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
    return t ? std::string_view(t, static_cast<size_t>(sqlite3_column_bytes(st, c))) : std::string_view();
  }
};

void readRecord(const CollectionSpec& c, sqlite3_stmt* st, Record& r) {
  SqliteRow row{st};
  sql::readRecord(c, row, r);
}

Error getRecord(SqliteConnection& conn, const sql::CollectionSql& sql, const CollectionSpec& c, std::string_view idOrSlug,
                Record& out, SlugScope scope) {
  sqlite3_stmt* st = conn.prepare(sql.get);
  if (!st) return sqlError(conn.db(), sqlite3_errcode(conn.db()));
  StmtGuard g{st};  // resets the statement while idOrSlug, bound without a copy, is alive
  sqlite3_bind_text64(st, 1, idOrSlug.data(), idOrSlug.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (c.slugFrom && c.visibility == Visibility::owner) {
    sqlite3_bind_text(st, 2, scope.owner.data(), static_cast<int>(scope.owner.size()), SQLITE_STATIC);
    sqlite3_bind_int(st, 3, scope.anyOwner ? 1 : 0);
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return Error{Status::notFound, {}, {}};
  if (rc != SQLITE_ROW) return sqlError(conn.db(), rc);
  readRecord(c, st, out);
  return {};
}

}  // namespace

// ---------------------------------------------------------------- connection

std::unique_ptr<SqliteConnection> SqliteConnection::open(const std::string& path, const StorageConfig& config,
                                                         std::string& error, bool create) {
  // Before SQLite's first use in the process: no memory statistics. restd
  // reads none, and keeping them takes a process-wide mutex on every
  // allocation and free SQLite makes (14 per GET of one record).
  [[maybe_unused]] static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    error = "cannot open SQLite database \"" + path + "\": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<SqliteConnection> c(new SqliteConnection(db));
  sqlite3_busy_timeout(db, 5000);
  // mmap_size: pages of the main file are read through a shared mapping
  // instead of a pread() and a copy into each connection's page cache (a
  // cache that SQLite drops whenever another connection commits). Pages
  // still in the WAL are read as before.
  std::string pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=1073741824; PRAGMA synchronous=";
  pragmas += config.durability == "full" ? "FULL;" : "NORMAL;";
  // Switching a new file to WAL needs it alone for a moment, and SQLite
  // answers SQLITE_BUSY at once, without the busy handler, while another
  // connection opens it at the same time (processes starting together on
  // a new file): try again for up to the busy timeout.
  for (int attempt = 0;; ++attempt) {
    if (c->exec(pragmas.c_str())) break;
    int code = sqlite3_errcode(db);
    if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || attempt >= 500) {
      error = "cannot prepare SQLite database \"" + path + "\": " + sqlite3_errmsg(db);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return c;
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, st] : cache_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

sqlite3_stmt* SqliteConnection::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= 512) {  // list queries vary with filters: keep the cache bounded
    for (auto& [s, st] : cache_) sqlite3_finalize(st);
    cache_.clear();
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st, nullptr) !=
      SQLITE_OK)
    return nullptr;
  cache_.emplace(sql, st);
  return st;
}

bool SqliteConnection::exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

int64_t SqliteConnection::dataVersion() {
  if (inSnapshot_ && snapshotDataVersion_ >= 0) return snapshotDataVersion_;
  static const std::string kSql = "PRAGMA data_version";
  sqlite3_stmt* st = prepare(kSql);
  if (!st) return -1;
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  if (inSnapshot_) snapshotDataVersion_ = v;
  return v;
}

bool SqliteConnection::beginSnapshot(uint64_t generation) {
  // Deferred: the WAL read lock is taken by the first statement and kept
  // until endSnapshot().
  static const std::string kBegin = "BEGIN";
  sqlite3_stmt* st = prepare(kBegin);
  if (!st) return false;
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  if (!ok) return false;
  inSnapshot_ = true;
  snapshotGeneration_ = generation;
  snapshotStartMs_ = nowMillis();
  snapshotDataVersion_ = -1;
  return true;
}

void SqliteConnection::endSnapshot() {
  if (!inSnapshot_) return;
  static const std::string kCommit = "COMMIT";
  sqlite3_stmt* st = prepare(kCommit);
  if (!st || sqlite3_step(st) != SQLITE_DONE) exec("ROLLBACK");
  if (st) sqlite3_reset(st);
  inSnapshot_ = false;
}

int64_t SqliteConnection::snapshotAgeMillis() const { return nowMillis() - snapshotStartMs_; }

std::optional<int64_t> SqliteConnection::cachedCount(const std::string& key, int64_t version) const {
  auto it = counts_.find(key);
  if (version < 0 || it == counts_.end() || it->second.first != version) return std::nullopt;
  return it->second.second;
}

const TokenOwner* SqliteConnection::cachedToken(std::string_view tokenHash, int64_t version) const {
  auto it = tokens_.find(tokenHash);
  if (version < 0 || it == tokens_.end() || it->second.first != version) return nullptr;
  return &it->second.second;
}

void SqliteConnection::rememberToken(std::string_view tokenHash, int64_t version, const TokenOwner& owner) {
  if (version < 0) return;
  if (tokens_.size() >= 4096) tokens_.clear();
  tokens_.insert_or_assign(std::string(tokenHash), std::pair{version, owner});
}

void SqliteConnection::rememberCount(const std::string& key, int64_t version, int64_t count) {
  if (version < 0) return;
  if (counts_.size() >= kCountsKept && !counts_.count(key)) counts_.clear();  // bounded; refilled by the lists in use
  counts_[key] = {version, count};
}

namespace {

// What names a list's total in the count cache: the count statement, then
// each parameter's type and exact value (to_chars round-trips doubles; text
// goes with its length, so no text can pass for more parameters).
void countKey(const sql::ListSql& lq, std::string& key) {
  key.assign(lq.count);
  char num[32];
  for (const auto& p : lq.countParams) {
    key += '\x1f';
    if (auto* n = std::get_if<int64_t>(&p)) key.append("i").append(num, std::to_chars(num, num + 32, *n).ptr);
    else if (auto* d = std::get_if<double>(&p)) key.append("d").append(num, std::to_chars(num, num + 32, *d).ptr);
    else if (auto* t = std::get_if<std::string>(&p))
      key.append("t").append(num, std::to_chars(num, num + 32, t->size()).ptr).append(":").append(*t);
    else key.append("n");
  }
}

}  // namespace

// ---------------------------------------------------------------- store

std::unique_ptr<SqliteStore> SqliteStore::open(const std::string& path, const StorageConfig& config,
                                               std::string& error) {
  auto writer = SqliteConnection::open(path, config, error, true);
  if (!writer) return nullptr;
  std::unique_ptr<SqliteStore> s(new SqliteStore(path == ":memory:" ? "" : path, config, std::move(writer)));
  if (!s->path_.empty()) {
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) {
      s->device_ = st.st_dev;
      s->inode_ = st.st_ino;
    }
    s->startWatch();
  }
  return s;
}

bool SqliteStore::startWatch() {
  // A read makes sure the -wal file exists before it is watched.
  writer_->exec("SELECT count(*) FROM sqlite_master");
  std::string wal = path_ + "-wal";
  watchFd_ = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  wakeFd_ = eventfd(0, EFD_CLOEXEC);
  if (watchFd_ < 0 || wakeFd_ < 0 ||
      inotify_add_watch(watchFd_, wal.c_str(), IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    if (watchFd_ >= 0) ::close(watchFd_);
    if (wakeFd_ >= 0) ::close(wakeFd_);
    watchFd_ = wakeFd_ = -1;
    return false;
  }
  watching_ = true;
  watchThread_ = std::thread([this] { watchLoop(); });
  return true;
}

void SqliteStore::watchLoop() {
  for (;;) {
    pollfd fds[2] = {{watchFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    alignas(inotify_event) char buf[4096];
    bool lost = false;
    ssize_t n;
    while ((n = ::read(watchFd_, buf, sizeof buf)) > 0) {
      for (ssize_t off = 0; off < n;) {
        auto* ev = reinterpret_cast<inotify_event*>(buf + off);
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) lost = true;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    if (lost) watching_ = false;  // the -wal file went away: from now on every read is fresh
    endIdleSnapshots();
    if (lost) return;
    // This process's own commits write the -wal file too (and end snapshots
    // themselves): pausing a moment lets a burst of writes cost one wake-up
    // instead of one per write, at the price of 2 ms more staleness at worst.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  watching_ = false;
}

SqliteStore::SqliteStore(std::string path, StorageConfig config, std::unique_ptr<SqliteConnection> writer)
    : path_(std::move(path)), config_(std::move(config)), writer_(std::move(writer)) {
  writerThread_ = std::thread([this] { writerLoop(); });
}

SqliteStore::~SqliteStore() {
  close();
  for (auto& slot : readerSlots_) delete slot.exchange(nullptr);
}

void SqliteStore::close() {
  if (!queue_.close()) return;
  if (writerThread_.joinable()) writerThread_.join();
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
  }
  if (watchThread_.joinable()) watchThread_.join();
  if (watchFd_ >= 0) ::close(watchFd_);
  if (wakeFd_ >= 0) ::close(wakeFd_);
  watchFd_ = wakeFd_ = -1;
}

bool SqliteStore::fileHealthy() {
  if (path_.empty()) return true;
  struct stat st{};
  // Gone, replaced, or no write permission left (checked on the mode bits,
  // since root passes access(W_OK) whatever they say).
  bool ok = ::stat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_ && (st.st_mode & 0222);
  lastHealthy_.store(ok);
  lastCheckMs_.store(nowMillis());
  return ok;
}

bool SqliteStore::fileHealthyCached() {
  if (path_.empty()) return true;
  if (nowMillis() - lastCheckMs_.load() < 200) return lastHealthy_.load();
  return fileHealthy();
}

bool SqliteStore::ready() {
  if (!fileHealthy()) return false;
  std::string error;
  auto conn = acquireReader(error);
  if (!conn) return false;
  sqlite3_stmt* st = conn->prepare("SELECT count(*) FROM sqlite_master");
  bool ok = false;
  if (st) {
    StmtGuard g{st};
    ok = sqlite3_step(st) == SQLITE_ROW;
  }
  releaseReader(std::move(conn), !ok);
  return ok;
}

std::unique_ptr<SqliteConnection> SqliteStore::acquireReader(std::string& error, bool fresh) {
  std::unique_ptr<SqliteConnection> c(readerSlot().exchange(nullptr));
  if (!c) {
    std::lock_guard lock(readersMutex_);
    if (!readers_.empty()) {
      c = std::move(readers_.back());
      readers_.pop_back();
    }
  }
  uint64_t statistics = statisticsGeneration_.load(std::memory_order_acquire);
  if (c && c->statistics != statistics) c.reset();  // opened before the planner's statistics changed
  if (!c) {
    c = SqliteConnection::open(path_, config_, error);
    if (!c) return c;
    c->exec("PRAGMA query_only=ON;");
    c->statistics = statistics;
  }
  // The generation is read before the snapshot starts: a commit in between
  // makes the snapshot look older than it is, never newer.
  if (!watching_.load(std::memory_order_relaxed)) fresh = true;
  uint64_t generation = commitGeneration_.load(std::memory_order_acquire);
  if (c->inSnapshot() &&
      (fresh || c->snapshotGeneration() != generation || c->snapshotAgeMillis() > kSnapshotMaxAgeMs))
    c->endSnapshot();
  if (!c->inSnapshot() && !c->beginSnapshot(generation)) {
    error = std::string("cannot start a read transaction: ") + sqlite3_errmsg(c->db());
    return nullptr;
  }
  return c;
}

std::atomic<SqliteConnection*>& SqliteStore::readerSlot() {
  static std::atomic<size_t> threads{0};
  thread_local const size_t index = threads.fetch_add(1, std::memory_order_relaxed);
  return readerSlots_[index % kReaderSlots];
}

void SqliteStore::releaseReader(std::unique_ptr<SqliteConnection> c, bool failed) {
  // A stale snapshot never idles: either this sees the generation that a
  // commit's endIdleSnapshots() bumped first, or that sweep finds this
  // connection in the slot (all three operations are sequentially
  // consistent), and acquireReader() checks the generation again.
  uint64_t generation = commitGeneration_.load();
  if (failed || c->snapshotGeneration() != generation) c->endSnapshot();
  std::atomic<SqliteConnection*>& slot = readerSlot();
  std::unique_ptr<SqliteConnection> displaced(slot.exchange(c.release()));  // another thread's, sharing the slot
  if (displaced) parkInPool(std::move(displaced));
  if (commitGeneration_.load() != generation)
    if (std::unique_ptr<SqliteConnection> back{slot.exchange(nullptr)}) parkInPool(std::move(back));
}

void SqliteStore::parkInPool(std::unique_ptr<SqliteConnection> c) {
  std::lock_guard lock(readersMutex_);
  // Checked under the lock that endIdleSnapshots() takes after bumping the
  // generation: either this sees the new generation, or that sweep sees this
  // connection in the pool.
  if (c->snapshotGeneration() != commitGeneration_.load()) c->endSnapshot();
  if (readers_.size() < 64) readers_.push_back(std::move(c));
  else c->endSnapshot();
}

void SqliteStore::endIdleSnapshots() {
  commitGeneration_.fetch_add(1);
  for (auto& slot : readerSlots_) {
    std::unique_ptr<SqliteConnection> c(slot.exchange(nullptr));
    if (!c) continue;
    c->endSnapshot();
    if (std::unique_ptr<SqliteConnection> displaced{slot.exchange(c.release())}) parkInPool(std::move(displaced));
  }
  std::lock_guard lock(readersMutex_);
  for (auto& c : readers_) c->endSnapshot();
}

Error SqliteStore::get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) {
  if (!fileHealthyCached()) return Error{Status::unavailable, {}, "database file missing or read-only"};
  if (path_.empty()) {
    // In-memory: one connection holds the data; the writer's, under the queue lock.
    std::lock_guard lock(memoryMutex_);
    return getRecord(*writer_, sqlFor(c), c, idOrSlug, out, scope);
  }
  std::string error;
  auto conn = acquireReader(error);
  if (!conn) return Error{Status::unavailable, {}, error};
  Error e = getRecord(*conn, sqlFor(c), c, idOrSlug, out, scope);
  releaseReader(std::move(conn), e && e.status != Status::notFound);
  return e;
}

Error SqliteStore::list(const CollectionSpec& c, const ListQuery& q, ListResult& out) {
  if (!fileHealthyCached()) return Error{Status::unavailable, {}, "database file missing or read-only"};
  sql::ListSql lq;
  if (auto e = sql::buildListSql(sql::Dialect::sqlite, c, sqlFor(c), q, lq)) return e;

  std::unique_ptr<SqliteConnection> leased;
  std::unique_lock<std::mutex> memoryLock;
  SqliteConnection* conn;
  if (path_.empty()) {
    memoryLock = std::unique_lock(memoryMutex_);
    conn = writer_.get();
  } else {
    std::string error;
    leased = acquireReader(error);
    if (!leased) return Error{Status::unavailable, {}, error};
    conn = leased.get();
  }
  Error result;
  // Both statements in one read transaction, so the total matches the page
  // (a leased reader is inside its snapshot already).
  if (!leased) conn->exec("BEGIN");
  do {
    sqlite3_stmt* st = conn->prepare(lq.page);
    if (!st) {
      result = sqlError(conn->db(), sqlite3_errcode(conn->db()));
      break;
    }
    {
      StmtGuard g{st};
      int i = 1;
      for (const auto& p : lq.pageParams) bindValue(st, i++, p);
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (static_cast<int64_t>(out.records.size()) == q.limit) {
          out.hasMore = true;
          continue;
        }
        out.records.emplace_back(*out.pool);
        readRecord(c, st, out.records.back());
      }
      if (rc != SQLITE_DONE) {
        result = sqlError(conn->db(), rc);
        break;
      }
    }
    if (!lq.count.empty()) {
      // A total is remembered per connection, by its statement and
      // parameters, until the database changes (PRAGMA data_version moves on
      // any other connection's commit): the first page of a filtered list
      // loaded again and again counts once per change, not per request.
      // (In memory mode reads share the writer's connection, whose own commits
      // do not move its data_version: no cache there.)
      int64_t version = !path_.empty() ? conn->dataVersion() : -1;
      thread_local std::string key;  // reused: no allocation per lookup
      countKey(lq, key);
      if (auto cached = conn->cachedCount(key, version)) {
        out.total = *cached;
        break;
      }
      sqlite3_stmt* cs = conn->prepare(lq.count);
      if (!cs) {
        result = sqlError(conn->db(), sqlite3_errcode(conn->db()));
        break;
      }
      StmtGuard g{cs};
      int i = 1;
      for (const auto& p : lq.countParams) bindValue(cs, i++, p);
      int rc = sqlite3_step(cs);
      if (rc != SQLITE_ROW) {
        result = sqlError(conn->db(), rc);
        break;
      }
      out.total = sqlite3_column_int64(cs, 0);
      conn->rememberCount(key, version, *out.total);
    }
  } while (false);
  if (leased) releaseReader(std::move(leased), static_cast<bool>(result));
  else conn->exec("COMMIT");
  return result;
}

// ---------------------------------------------------------------- writes

class SqliteStore::Txn final : public sql::AccountTxn {
 public:
  Txn(const SqliteStore& store, SqliteConnection& conn)
      : AccountTxn(sql::Dialect::sqlite), store_(store), conn_(conn) {}
  Error get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) override {
    return getRecord(conn_, store_.sqlFor(c), c, idOrSlug, out, {});
  }
  Error nested(const std::function<bool()>& fn) override {
    static const std::string kSavepoint = "SAVEPOINT nested", kRollbackTo = "ROLLBACK TO nested",
                             kRelease = "RELEASE nested";
    if (auto e = exec(kSavepoint, {})) return e;
    size_t mark = eventMark();
    if (!fn()) {
      dropEventsAfter(mark);
      if (auto e = exec(kRollbackTo, {})) return e;
    }
    return exec(kRelease, {});
  }
  Error insert(const CollectionSpec& c, const Record& r) override { return run(store_.sqlFor(c).insert, c, r, false); }
  Error update(const CollectionSpec& c, const Record& r) override { return run(store_.sqlFor(c).update, c, r, true); }
  Error remove(const CollectionSpec& c, std::string_view id) override {
    sqlite3_stmt* st = conn_.prepare(store_.sqlFor(c).remove);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    bindValue(st, 1, std::string(id));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), rc);
    if (sqlite3_changes(conn_.db()) == 0) return Error{Status::notFound, {}, {}};
    return {};
  }
  Error getStoredReply(std::string_view userId, std::string_view key, int64_t notBefore, StoredReply& out) override {
    sqlite3_stmt* st = conn_.prepare(
        "SELECT requestHash, status, contentType, headers, body, createdAt FROM _restd_idempotency "
        "WHERE userId = ? AND key = ? AND createdAt >= ?");
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    bindValue(st, 1, std::string(userId));
    bindValue(st, 2, std::string(key));
    bindValue(st, 3, notBefore);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return Error{Status::notFound, {}, {}};
    if (rc != SQLITE_ROW) return sqlError(conn_.db(), rc);
    auto text = [&](int c) {
      const char* t = static_cast<const char*>(sqlite3_column_blob(st, c));
      return t ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, c))) : std::string();
    };
    out.requestHash = text(0);
    out.status = sqlite3_column_int(st, 1);
    out.contentType = text(2);
    out.headers = text(3);
    out.body = text(4);
    out.createdAt = sqlite3_column_int64(st, 5);
    return {};
  }
  Error putStoredReply(std::string_view userId, std::string_view key, const StoredReply& r) override {
    // Replies older than a day go while we are here, a bounded number per
    // write through the age index: the purge never scans live keys, so keyed
    // writes cost the same at 7,000 stored keys as at none.
    if (auto e = exec("DELETE FROM _restd_idempotency WHERE (userId, key) IN (SELECT userId, key FROM "
                      "_restd_idempotency WHERE createdAt < ? LIMIT 64)",
                      {r.createdAt - 24 * 3600 * 1000LL}))
      return e;
    return exec("INSERT OR REPLACE INTO _restd_idempotency (userId, key, requestHash, status, contentType, headers, "
                "body, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                {std::string(userId), std::string(key), r.requestHash, int64_t(r.status), r.contentType, r.headers,
                 r.body, r.createdAt});
  }
  Error slugTaken(const CollectionSpec& c, std::string_view owner, std::string_view slug, bool& taken) override {
    taken = false;
    sqlite3_stmt* st = conn_.prepare(store_.sqlFor(c).slugTaken);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    sqlite3_bind_text(st, 1, slug.data(), static_cast<int>(slug.size()), SQLITE_STATIC);
    if (c.visibility == Visibility::owner)
      sqlite3_bind_text(st, 2, owner.data(), static_cast<int>(owner.size()), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) taken = true;
    else if (rc != SQLITE_DONE) return sqlError(conn_.db(), rc);
    return {};
  }

 protected:
  Error execute(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange) override {
    return exec(sqlText, params, mustChange);
  }

 private:
  Error run(const std::string& sql, const CollectionSpec& c, const Record& r, bool mustExist) {
    sqlite3_stmt* st = conn_.prepare(sql);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};  // resets and clears the bindings, which point into `r` and `scratch`
    thread_local std::vector<std::string> scratch;
    SqliteBinder binder{st};
    sql::bindRecord(binder, c, r, scratch);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), sqlite3_extended_errcode(conn_.db()));
    if (mustExist && sqlite3_changes(conn_.db()) == 0) return Error{Status::notFound, {}, {}};
    return {};
  }
  Error exec(const std::string& sql, const std::vector<SqlValue>& params, bool mustChange = false) {
    sqlite3_stmt* st = conn_.prepare(sql);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    int i = 1;
    for (const auto& p : params) bindValue(st, i++, p);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), sqlite3_extended_errcode(conn_.db()));
    if (mustChange && sqlite3_changes(conn_.db()) == 0) return Error{Status::notFound, {}, {}};
    return {};
  }
  const SqliteStore& store_;
  SqliteConnection& conn_;
};

template <typename Fn>
Error SqliteStore::withReader(Fn&& fn, bool fresh) {
  if (!fileHealthyCached()) return Error{Status::unavailable, {}, "database file missing or read-only"};
  if (path_.empty()) {
    std::lock_guard lock(memoryMutex_);
    return fn(*writer_);
  }
  std::string error;
  auto conn = acquireReader(error, fresh);
  if (!conn) return Error{Status::unavailable, {}, error};
  Error e = fn(*conn);
  // A fresh read leaves no snapshot behind: one that young would otherwise
  // pass for current with the next request (kSnapshotMaxAgeMs) before the
  // watch has seen another process's commit.
  if (fresh) conn->endSnapshot();
  releaseReader(std::move(conn), e && e.status != Status::notFound);
  return e;
}

namespace {

std::string columnText(sqlite3_stmt* st, int col) {
  const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  return t ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, col))) : std::string();
}

// Runs a query with `params`, calling `row` for each result row.
template <typename Row>
Error query(SqliteConnection& c, const std::string& sql, const std::vector<SqlValue>& params, Row&& row) {
  sqlite3_stmt* st = c.prepare(sql);
  if (!st) return sqlError(c.db(), sqlite3_errcode(c.db()));
  StmtGuard g{st};
  int i = 1;
  for (const auto& p : params) bindValue(st, i++, p);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
  if (rc != SQLITE_DONE) return sqlError(c.db(), rc);
  return {};
}

void readUser(sqlite3_stmt* st, User& u) {
  SqliteRow row{st};
  u = sql::AccountTxn::userFromRow(row);
}

}  // namespace

// Users and API keys are read fresh: the CLI adds them from another process,
// and a key made a moment ago must work at once.
Error SqliteStore::findUser(std::string_view userName, User& out) {
  bool found = false;
  Error e = withReader([&](SqliteConnection& c) {
    return query(c, "SELECT id, userName, role, passwordHash, createdAt FROM _restd_users WHERE userName = ?",
                 {std::string(userName)}, [&](sqlite3_stmt* st) {
                   readUser(st, out);
                   found = true;
                 });
  }, /*fresh=*/true);
  if (!e && !found) e.status = Status::notFound;
  return e;
}

Error SqliteStore::listUsers(std::vector<User>& out) {
  return withReader([&](SqliteConnection& c) {
    return query(c, "SELECT id, userName, role, passwordHash, createdAt FROM _restd_users ORDER BY userName", {},
                 [&](sqlite3_stmt* st) {
                   out.emplace_back();
                   readUser(st, out.back());
                 });
  }, /*fresh=*/true);
}

Error SqliteStore::findApiKey(std::string_view keyHash, ApiKey& out) {
  bool found = false;
  Error e = withReader([&](SqliteConnection& c) {
    return query(c, "SELECT label, prefix, createdAt FROM _restd_apikeys WHERE keyHash = ?", {std::string(keyHash)},
                 [&](sqlite3_stmt* st) {
                   out.label = columnText(st, 0);
                   out.prefix = columnText(st, 1);
                   out.createdAt = sqlite3_column_int64(st, 2);
                   found = true;
                 });
  }, /*fresh=*/true);
  if (!e && !found) e.status = Status::notFound;
  return e;
}

Error SqliteStore::listApiKeys(std::vector<ApiKey>& out) {
  return withReader([&](SqliteConnection& c) {
    return query(c, "SELECT label, prefix, createdAt FROM _restd_apikeys ORDER BY createdAt, label", {},
                 [&](sqlite3_stmt* st) {
                   out.push_back(ApiKey{columnText(st, 0), columnText(st, 1), sqlite3_column_int64(st, 2)});
                 });
  }, /*fresh=*/true);
}

Error SqliteStore::findToken(std::string_view tokenHash, int64_t now, TokenOwner& out) {
  bool found = false;
  Error e = withReader([&](SqliteConnection& c) {
    // While the database is unchanged (same data_version), the answer is too:
    // skip the query. Expiry is checked against the clock every time.
    int64_t version = path_.empty() ? -1 : c.dataVersion();  // see list(): no cache in memory mode
    if (const TokenOwner* cached = c.cachedToken(tokenHash, version); cached && cached->expiresAt > now) {
      out = *cached;
      found = true;
      return Error{};
    }
    Error qe = query(c,
                 "SELECT u.id, u.userName, u.role, t.apiKeyLabel, t.expiresAt FROM _restd_tokens t "
                 "JOIN _restd_users u ON u.id = t.userId WHERE t.tokenHash = ? AND t.expiresAt > ?",
                 {std::string(tokenHash), now}, [&](sqlite3_stmt* st) {
                   out.userId = columnText(st, 0);
                   out.userName = columnText(st, 1);
                   out.role = columnText(st, 2);
                   out.apiKeyLabel = columnText(st, 3);
                   out.expiresAt = sqlite3_column_int64(st, 4);
                   found = true;
                 });
    if (!qe && found) c.rememberToken(tokenHash, version, out);
    return qe;
  });
  if (!e && !found) e.status = Status::notFound;
  return e;
}

Error SqliteStore::loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) {
  out.clear();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::loginFailuresSql(sql::Dialect::sqlite), {std::string(key), sinceMs},
                 [&](sqlite3_stmt* st) { out.push_back(sqlite3_column_int64(st, 0)); });
  }, /*fresh=*/true);
}

Error SqliteStore::readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) {
  out.clear();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::eventsSql(sql::Dialect::sqlite), {after, limit}, [&](sqlite3_stmt* st) {
      out.push_back(StoredEvent{sqlite3_column_int64(st, 0), columnText(st, 1), columnText(st, 2), columnText(st, 3),
                                columnText(st, 4), columnText(st, 5), sqlite3_column_int64(st, 6)});
    });
  }, /*fresh=*/true);
}

Error SqliteStore::eventBounds(int64_t& oldest, int64_t& newest) {
  oldest = newest = 0;
  return withReader([&](SqliteConnection& c) {
    return query(c, std::string(sql::AccountTxn::kEventBoundsSql), {}, [&](sqlite3_stmt* st) {
      oldest = sqlite3_column_int64(st, 0);  // NULL reads as 0
      newest = sqlite3_column_int64(st, 1);
    });
  }, /*fresh=*/true);
}

Error SqliteStore::readSetting(std::string_view key, std::optional<std::string>& out) {
  out.reset();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::settingSql(sql::Dialect::sqlite), {std::string(key)}, [&](sqlite3_stmt* st) {
      out = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                        static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    });
  }, /*fresh=*/true);
}

void SqliteStore::submitWrite(WriteJob job, WriteDone done) { queue_.push(std::move(job), std::move(done)); }

// The writer has no request to answer for: its failures go to stderr, with
// SQLite's own words, while the jobs' replies say only 500 internal.
void SqliteStore::logWriterError(const std::string& what, bool fromSqlite) const {
  if (fromSqlite)
    std::fprintf(stderr, "restd: storage writer: %s (sqlite: %s)\n", what.c_str(), sqlite3_errmsg(writer_->db()));
  else
    std::fprintf(stderr, "restd: storage writer: %s\n", what.c_str());
}

void SqliteStore::writerLoop() {
  std::vector<WriteQueue::Pending> group;
  // Everything queued so far shares one transaction and one fsync.
  while (queue_.takeGroup(group)) {
    bool committed = false;
    if (fileHealthy()) {
      // In-memory databases serve reads from this connection too: hold the lock.
      std::unique_lock<std::mutex> memoryLock;
      if (path_.empty()) memoryLock = std::unique_lock(memoryMutex_);
      // Prepared once and reused: parsing these five statements for every
      // job cost more than the job's own INSERT.
      static const std::string kBegin = "BEGIN IMMEDIATE", kSavepoint = "SAVEPOINT job",
                               kRollbackTo = "ROLLBACK TO job", kRelease = "RELEASE job", kCommit = "COMMIT";
      auto run = [this](const std::string& sql) {
        sqlite3_stmt* st = writer_->prepare(sql);
        if (!st) return writer_->exec(sql.c_str());
        bool ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
        return ok;
      };
      // A savepoint that cannot be set, rolled back to or released leaves
      // the group's state unknown: then nothing of it is committed and every
      // job hears `committed = false` (a logged 500), never a silent success.
      bool intact = run(kBegin);
      if (!intact) logWriterError("cannot begin the group's transaction");
      Txn events(*this, *writer_);  // the events of the jobs kept, written once before the commit
      for (size_t i = 0; intact && i < group.size(); ++i) {
        auto& p = group[i];
        if (!run(kSavepoint)) {
          logWriterError("cannot set a savepoint");
          intact = false;
          break;
        }
        Txn txn(*this, *writer_);
        bool keep = false;
        try {
          keep = p.job(txn);
        } catch (const std::exception& e) {
          logWriterError(std::string("a write job threw: ") + e.what(), false);
        } catch (...) {
          logWriterError("a write job threw a non-standard exception", false);
        }
        if (keep) events.addEvents(txn.takeEvents());
        if ((!keep && !run(kRollbackTo)) || !run(kRelease)) {
          logWriterError("cannot undo or release a job's savepoint");
          intact = false;
        }
      }
      if (intact)
        if (auto e = events.flushEvents()) {
          logWriterError("cannot write the group's events: " + e.detail);
          intact = false;
        }
      if (intact) {
        committed = run(kCommit);
        if (!committed) logWriterError("cannot commit the group");
      }
      if (!committed) writer_->exec("ROLLBACK");
    }
    if (committed && !path_.empty()) endIdleSnapshots();
    for (auto& p : group) p.done(committed);
    group.clear();
    if (committed) refreshStatistics();
  }
}


// ---------------------------------------------------------------- schema

bool SqliteStore::migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) {
  destructive = false;
  SqliteConnection& db = *writer_;
  std::lock_guard lock(memoryMutex_);  // nothing else writes before the server starts, but be sure
  auto fail = [&](std::string msg) {
    error = std::move(msg);
    db.exec("ROLLBACK");
    return false;
  };
  if (!db.exec("BEGIN IMMEDIATE")) return fail(std::string("cannot start migration: ") + sqlite3_errmsg(db.db()));
  if (!db.exec("CREATE TABLE IF NOT EXISTS _restd_schema (collection TEXT NOT NULL, field TEXT NOT NULL, "
               "type TEXT NOT NULL, PRIMARY KEY (collection, field)) WITHOUT ROWID"))
    return fail(std::string("cannot create _restd_schema: ") + sqlite3_errmsg(db.db()));

  if (!db.exec("CREATE TABLE IF NOT EXISTS _restd_users (id TEXT PRIMARY KEY NOT NULL, userName TEXT NOT NULL UNIQUE, "
               "role TEXT NOT NULL, passwordHash TEXT NOT NULL, createdAt INTEGER NOT NULL);"
               "CREATE TABLE IF NOT EXISTS _restd_apikeys (label TEXT PRIMARY KEY NOT NULL, keyHash TEXT NOT NULL "
               "UNIQUE, prefix TEXT NOT NULL, createdAt INTEGER NOT NULL);"
               "CREATE TABLE IF NOT EXISTS _restd_tokens (tokenHash TEXT PRIMARY KEY NOT NULL, userId TEXT NOT NULL, "
               "apiKeyLabel TEXT NOT NULL, expiresAt INTEGER NOT NULL) WITHOUT ROWID;"
               "CREATE INDEX IF NOT EXISTS _restd_tokens_by_key ON _restd_tokens (apiKeyLabel);"
               "CREATE INDEX IF NOT EXISTS _restd_tokens_by_user ON _restd_tokens (userId);"
               "CREATE TABLE IF NOT EXISTS _restd_idempotency (userId TEXT NOT NULL, key TEXT NOT NULL, "
               "requestHash TEXT NOT NULL, status INTEGER NOT NULL, contentType TEXT NOT NULL, headers TEXT NOT NULL, "
               "body BLOB NOT NULL, createdAt INTEGER NOT NULL, PRIMARY KEY (userId, key)) WITHOUT ROWID;"
               "CREATE INDEX IF NOT EXISTS _restd_idempotency_by_age ON _restd_idempotency (createdAt);"
               "CREATE TABLE IF NOT EXISTS _restd_login_failures (id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
               "at INTEGER NOT NULL);"
               "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_key ON _restd_login_failures (key, at);"
               "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_time ON _restd_login_failures (at);"))
    return fail(std::string("cannot create the user tables: ") + sqlite3_errmsg(db.db()));
  if (!db.exec(std::string(sql::AccountTxn::kSettingsTableSql).c_str()))
    return fail(std::string("cannot create _restd_settings: ") + sqlite3_errmsg(db.db()));
  // A seq is never given twice without AUTOINCREMENT (and its extra write
  // per insert) too: a new rowid is the largest plus one, and pruning
  // always keeps the newest event.
  if (!db.exec("CREATE TABLE IF NOT EXISTS _restd_events (seq INTEGER PRIMARY KEY, "
               "collection TEXT NOT NULL, kind TEXT NOT NULL, recordId TEXT NOT NULL, owner TEXT NOT NULL, "
               "data TEXT NOT NULL, at INTEGER NOT NULL);"))
    return fail(std::string("cannot create _restd_events: ") + sqlite3_errmsg(db.db()));

  auto step = [&](const std::string& sql, const std::vector<SqlValue>& params = {}) -> bool {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db.db(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return false;
    int i = 1;
    for (const auto& p : params) bindValue(st, i++, p);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  };

  std::vector<std::string> refusals;
  for (const auto& c : config.collections) {
    // What the database says this collection has.
    std::vector<std::pair<std::string, std::string>> existing;
    bool tableExists = false;
    {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db.db(), "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &st,
                             nullptr) != SQLITE_OK)
        return fail(std::string("cannot read the schema: ") + sqlite3_errmsg(db.db()));
      sqlite3_bind_text(st, 1, c.name.c_str(), -1, SQLITE_TRANSIENT);
      int rc = sqlite3_step(st);
      tableExists = rc == SQLITE_ROW;
      sqlite3_finalize(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(std::string("cannot read the schema: ") + sqlite3_errmsg(db.db()));
      if (sqlite3_prepare_v2(db.db(), "SELECT field, type FROM _restd_schema WHERE collection=?", -1, &st,
                             nullptr) != SQLITE_OK)
        return fail(std::string("cannot read _restd_schema: ") + sqlite3_errmsg(db.db()));
      sqlite3_bind_text(st, 1, c.name.c_str(), -1, SQLITE_TRANSIENT);
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char* field = sqlite3_column_text(st, 0);
        const unsigned char* type = sqlite3_column_text(st, 1);
        if (field && type)
          existing.emplace_back(reinterpret_cast<const char*>(field), reinterpret_cast<const char*>(type));
      }
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) return fail(std::string("cannot read _restd_schema: ") + sqlite3_errmsg(db.db()));
    }
    if (!tableExists) {
      if (!step(sql::createTableSql(sql::Dialect::sqlite, c)))
        return fail("cannot create table " + c.name + ": " + sqlite3_errmsg(db.db()));
      if (!step("DELETE FROM _restd_schema WHERE collection = ?", {c.name})) return fail("cannot reset schema");
      existing.clear();
    }
    sql::TablePlan plan = sql::planTable(c, existing, allowDestructive);
    if (!plan.refusals.empty()) {
      refusals.insert(refusals.end(), plan.refusals.begin(), plan.refusals.end());
      continue;
    }
    for (const auto& name : plan.drop) {
      for (const auto& index : sql::indexNamesFor(c, name))
        if (!step("DROP INDEX IF EXISTS " + sql::quote(index)))
          return fail("cannot drop " + c.name + "." + name + ": " + sqlite3_errmsg(db.db()));
      if (!step("ALTER TABLE " + sql::quote(c.name) + " DROP COLUMN " + sql::quote(name)) ||
          !step("DELETE FROM _restd_schema WHERE collection = ? AND field = ?", {c.name, name}))
        return fail("cannot drop " + c.name + "." + name + ": " + sqlite3_errmsg(db.db()));
    }
    for (const FieldSpec* f : plan.add) {
      if (tableExists && !step("ALTER TABLE " + sql::quote(c.name) + " ADD COLUMN " + sql::quote(f->name) + " " +
                               std::string(sql::columnType(sql::Dialect::sqlite, f->type))))
        return fail("cannot add " + c.name + "." + f->name + ": " + sqlite3_errmsg(db.db()));
      if (!step("INSERT OR REPLACE INTO _restd_schema (collection, field, type) VALUES (?, ?, ?)",
                {c.name, f->name, std::string(fieldTypeName(f->type))}))
        return fail("cannot record schema");
      if (tableExists && f->defaultJson) {
        // Existing records get the field's default, bound like any other value.
        rapidjson::Document d;
        d.Parse(f->defaultJson->data(), f->defaultJson->size());
        sqlite3_stmt* st = nullptr;
        std::vector<std::string> scratch;
        bool filled = sqlite3_prepare_v2(db.db(),
                                         ("UPDATE " + sql::quote(c.name) + " SET " + sql::quote(f->name) + " = ?").c_str(),
                                         -1, &st, nullptr) == SQLITE_OK;
        if (filled) {
          SqliteBinder binder{st};
          sql::bindField(binder, 1, *f, d, scratch);
          filled = sqlite3_step(st) == SQLITE_DONE;
        }
        sqlite3_finalize(st);
        if (!filled) return fail("cannot fill " + c.name + "." + f->name + ": " + sqlite3_errmsg(db.db()));
      }
    }
    // The indexes follow the config (store/sql/schema_plan.h). One whose
    // definition differs from the one wanted (made by an older restd, or
    // before a change of visibility) is dropped and rebuilt; one no longer
    // wanted is dropped.
    auto ensureIndex = [&](const sql::IndexSpec& want, std::string& why) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db.db(), "SELECT sql FROM sqlite_master WHERE type='index' AND name=?", -1, &st,
                             nullptr) != SQLITE_OK) {
        why = sqlite3_errmsg(db.db());
        return false;
      }
      sqlite3_bind_text(st, 1, want.name.c_str(), -1, SQLITE_TRANSIENT);
      int rc = sqlite3_step(st);
      std::string existingSql = rc == SQLITE_ROW && sqlite3_column_text(st, 0)
                                    ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                                    : std::string();
      sqlite3_finalize(st);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        why = sqlite3_errmsg(db.db());
        return false;
      }
      if (existingSql == want.create) return true;
      if ((rc == SQLITE_ROW && !step("DROP INDEX " + sql::quote(want.name))) || !step(want.create)) {
        why = sqlite3_errmsg(db.db());
        return false;
      }
      return true;
    };
    std::vector<sql::IndexSpec> wanted = sql::wantedIndexes(c, sql::Dialect::sqlite);
    for (const auto& want : wanted) {
      std::string why;
      if (!ensureIndex(want, why)) {
        if (!want.unique || want.field == "slug") return fail("cannot index " + c.name + "." + want.field + ": " + why);
        return fail("cannot make " + c.name + "." + want.field + " unique" +
                    (c.visibility == Visibility::owner ? " per owner" : "") + ": existing records share values (" +
                    why + ")");
      }
    }
    for (const auto& f : c.fields)
      for (const auto& name : sql::indexNamesFor(c, f.name)) {
        bool keep = false;
        for (const auto& want : wanted) keep = keep || want.name == name;
        if (!keep && !step("DROP INDEX IF EXISTS " + sql::quote(name)))
          return fail("cannot drop the index " + name + ": " + sqlite3_errmsg(db.db()));
      }
  }
  if (!refusals.empty()) {
    destructive = true;
    return fail(sql::refusalMessage(refusals));
  }
  if (!db.exec("COMMIT")) return fail(std::string("cannot commit migration: ") + sqlite3_errmsg(db.db()));
  // The statements' text, built once; read without locks from here on.
  for (const auto& c : config.collections) sql_[c.name] = sql::buildCollectionSql(sql::Dialect::sqlite, c);
  indexedFields_.clear();
  for (const auto& c : config.collections) {
    std::vector<std::string> fields;
    for (const auto& f : c.fields)
      if (f.index && !f.unique) fields.push_back(f.name);
    if (!fields.empty()) indexedFields_.emplace_back(c.name, std::move(fields));
  }
  writeStatistics();
  return true;
}

const sql::CollectionSql& SqliteStore::sqlFor(const CollectionSpec& c) const { return sql_.at(c.name); }

// ---------------------------------------------------------------- snapshots and backups

// A reader connection inside one read transaction (deferred BEGIN: it starts
// at the first statement and holds that instant until the lease ends).
class SqliteStore::Snapshot final : public ReadSnapshot {
 public:
  Snapshot(const SqliteStore& store, SqliteConnection& conn) : store_(store), conn_(conn) {}
  Error count(const CollectionSpec& c, int64_t& out) override {
    out = 0;
    return query(conn_, store_.sqlFor(c).countAll, {}, [&](sqlite3_stmt* st) { out = sqlite3_column_int64(st, 0); });
  }
  Error records(const CollectionSpec& c, const std::function<bool(Record&)>& each) override {
    // Prepared here, not from the connection's cache: `each` may run for
    // minutes, and nothing else may reset this statement meanwhile.
    std::string text = store_.sqlFor(c).select + " ORDER BY \"id\"";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(conn_.db(), text.c_str(), -1, &st, nullptr) != SQLITE_OK)
      return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Record r;
      readRecord(c, st, r);
      if (!each(r)) {
        rc = SQLITE_DONE;
        break;
      }
    }
    Error e = rc == SQLITE_DONE ? Error{} : sqlError(conn_.db(), rc);
    sqlite3_finalize(st);
    return e;
  }
  Error users(std::vector<User>& out) override {
    return query(conn_, std::string(sql::AccountTxn::kAllUsersSql), {}, [&](sqlite3_stmt* st) {
      out.emplace_back();
      readUser(st, out.back());
    });
  }
  Error apiKeys(std::vector<std::pair<ApiKey, std::string>>& out) override {
    return query(conn_, std::string(sql::AccountTxn::kAllApiKeysSql), {}, [&](sqlite3_stmt* st) {
      SqliteRow row{st};
      out.push_back(sql::AccountTxn::apiKeyFromRow(row));
    });
  }
  Error tokens(const std::function<void(const StoredToken&)>& each) override {
    return query(conn_, std::string(sql::AccountTxn::kAllTokensSql), {}, [&](sqlite3_stmt* st) {
      SqliteRow row{st};
      each(sql::AccountTxn::tokenFromRow(row));
    });
  }

 private:
  const SqliteStore& store_;
  SqliteConnection& conn_;
};

Error SqliteStore::readSnapshot(const std::function<Error(ReadSnapshot&)>& fn) {
  return withReader([&](SqliteConnection& c) {
    // In memory mode the writer's connection is not inside a snapshot of its own.
    bool own = !c.inSnapshot();
    if (own && !c.exec("BEGIN")) return sqlError(c.db(), sqlite3_errcode(c.db()));
    Snapshot snap(*this, c);
    Error e = fn(snap);
    if (own) c.exec("COMMIT");
    return e;
  }, /*fresh=*/true);
}

Error SqliteStore::copyInto(const Config& config, const std::string& path, const ProgressFn& progress) {
  // In memory there is no file to copy; otherwise the file holds every table.
  if (path_.empty()) return Store::copyInto(config, path, progress);
  std::string error;
  auto source = SqliteConnection::open(path_, config_, error);
  if (!source) return Error{Status::unavailable, {}, error};
  // The read transaction every step runs in: the copy is of this instant,
  // and the server's commits meanwhile neither restart nor disturb it.
  if (!source->exec("BEGIN") || !source->exec("SELECT count(*) FROM sqlite_schema"))
    return sqlError(source->db(), sqlite3_errcode(source->db()));
  sqlite3* target = nullptr;
  if (sqlite3_open_v2(path.c_str(), &target, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    Error e{Status::unavailable, {}, "cannot write " + path + ": " + (target ? sqlite3_errmsg(target) : "out of memory")};
    sqlite3_close(target);
    return e;
  }
  Error result;
  sqlite3_backup* b = sqlite3_backup_init(target, "main", source->db(), "main");
  if (!b) {
    result = Error{Status::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  } else {
    int64_t pageSize = 4096;
    query(*source, "PRAGMA page_size", {}, [&](sqlite3_stmt* st) { pageSize = sqlite3_column_int64(st, 0); });
    // 1024 pages (4 MiB) a step: progress and Ctrl-C every few milliseconds.
    int rc;
    while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      CopyProgress p;
      p.total = sqlite3_backup_pagecount(b);
      p.done = p.total - sqlite3_backup_remaining(b);
      p.bytes = p.done * pageSize;
      p.unit = "pages";
      if (progress && !progress(p)) {
        result = Error{Status::internal, {}, std::string(kInterruptedDetail)};
        break;
      }
      if (rc != SQLITE_OK) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!result && rc != SQLITE_DONE)
      result = Error{rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN
                         ? Status::unavailable
                         : Status::internal,
                     {}, "cannot write " + path + ": " + sqlite3_errstr(rc)};
    int finished = sqlite3_backup_finish(b);
    if (!result && finished != SQLITE_OK)
      result = Error{Status::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  }
  // Should the copy have a WAL of its own (its header says WAL, like its
  // source's), fold it in: the file alone is complete before it is renamed.
  if (!result && sqlite3_exec(target, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) != SQLITE_OK)
    result = Error{Status::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  sqlite3_close(target);
  source->exec("COMMIT");
  return result;
}

}  // namespace restd::store
