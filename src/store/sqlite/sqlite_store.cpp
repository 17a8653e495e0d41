#include "store/sqlite/sqlite_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/json.h"
#include "common/time.h"
#include "store/sql/record_codec.h"
#include "store/sqlite/sqlite_detail.h"

namespace restd::store {

using namespace sqlite;

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

// A copy of `from`'s records into `to`'s pool. Field names are the
// configuration's (constant strings) and stay shared; values are copied.
void copyPage(const ListResult& from, ListResult& to) {
  to.records.reserve(to.records.size() + from.records.size());
  for (const Record& r : from.records) {
    Record& c = to.records.emplace_back(*to.pool);
    c.id = r.id;
    c.slug = r.slug;
    c.createdAt = r.createdAt;
    c.updatedAt = r.updatedAt;
    c.version = r.version;
    c.owner = r.owner;
    copyJson(r.values, c.values, c.values.GetAllocator());
  }
  to.hasMore = from.hasMore;
}

}  // namespace

const ListResult* SqliteConnection::cachedPage(const std::string& key, int64_t version) const {
  if (version < 0 || version != pagesVersion_) return nullptr;
  auto it = pages_.find(key);
  return it == pages_.end() ? nullptr : it->second.get();
}

void SqliteConnection::rememberPage(const std::string& key, int64_t version, const ListResult& page) {
  if (version < 0) return;
  if (version != pagesVersion_) {  // the database changed: what was kept is out of date
    pages_.clear();
    pagesBytes_ = 0;
    pagesVersion_ = version;
  }
  auto it = pages_.find(key);
  if (it == pages_.end()) {  // read once: remember only the key
    if (pages_.size() >= kPagesKept || pagesBytes_ + key.size() > kPageBytesKept) {
      pages_.clear();
      pagesBytes_ = 0;
    }
    pages_.emplace(key, nullptr);
    pagesBytes_ += key.size();
    return;
  }
  size_t bytes = page.pool->Size() + page.records.size() * sizeof(Record);
  if (it->second || pagesBytes_ + bytes > kPageBytesKept) return;  // kept already, or no room: read it each time
  auto copy = std::make_unique<ListResult>();
  copy->pool = std::make_unique<rapidjson::MemoryPoolAllocator<>>(std::max<size_t>(page.pool->Size(), 1024));
  copyPage(page, *copy);  // not the total: totals have their own cache
  it->second = std::move(copy);
  pagesBytes_ += bytes;
}

namespace {

// What names a list's total in the count cache: the count statement, then
// each parameter's type and exact value (to_chars round-trips doubles; text
// goes with its length, so no text can pass for more parameters).
void statementKey(const std::string& sql, const std::vector<SqlValue>& params, std::string& key) {
  key.assign(sql);
  char num[32];
  for (const auto& p : params) {
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

Status SqliteStore::get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) {
  if (!fileHealthyCached()) return Status{StatusCode::unavailable, {}, "database file missing or read-only"};
  if (path_.empty()) {
    // In-memory: one connection holds the data; the writer's, under the queue lock.
    std::lock_guard lock(memoryMutex_);
    return getRecord(*writer_, sqlFor(c), c, idOrSlug, out, scope);
  }
  std::string error;
  auto conn = acquireReader(error);
  if (!conn) return Status{StatusCode::unavailable, {}, error};
  Status e = getRecord(*conn, sqlFor(c), c, idOrSlug, out, scope);
  releaseReader(std::move(conn), e && e.code != StatusCode::notFound);
  return e;
}

Status SqliteStore::list(const CollectionSpec& c, const ListQuery& q, ListResult& out) {
  if (!fileHealthyCached()) return Status{StatusCode::unavailable, {}, "database file missing or read-only"};
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
    if (!leased) return Status{StatusCode::unavailable, {}, error};
    conn = leased.get();
  }
  Status result;
  // Both statements in one read transaction, so the total matches the page
  // (a leased reader is inside its snapshot already).
  if (!leased) conn->exec("BEGIN");
  // The page and its total are remembered per connection, by statement and
  // parameters, until the database changes (PRAGMA data_version moves on
  // any other connection's commit, and a reader's snapshot holds one
  // version): the first page of a filtered list loaded again and again is
  // read from the tables and counted once per change, not per request, and
  // a remembered page is the one the tables would give at this snapshot.
  // (In memory mode reads share the writer's connection, whose own commits
  // do not move its data_version: no cache there.)
  int64_t version = !path_.empty() ? conn->dataVersion() : -1;
  thread_local std::string key;  // reused: no allocation per lookup
  do {
    statementKey(lq.page, lq.pageParams, key);
    if (const ListResult* page = conn->cachedPage(key, version)) {
      copyPage(*page, out);
    } else {
      sqlite3_stmt* st = conn->prepare(lq.page);
      if (!st) {
        result = sqlError(conn->db(), sqlite3_errcode(conn->db()));
        break;
      }
      StmtGuard g{st};  // clears the bindings, which point into `lq`
      int i = 1;
      for (const auto& p : lq.pageParams) bindValue(st, i++, p, TextBinding::borrowed);
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
      conn->rememberPage(key, version, out);
    }
    if (!lq.count.empty()) {
      statementKey(lq.count, lq.countParams, key);
      if (auto cached = conn->cachedCount(key, version)) {
        out.total = *cached;
        break;
      }
      sqlite3_stmt* cs = conn->prepare(lq.count);
      if (!cs) {
        result = sqlError(conn->db(), sqlite3_errcode(conn->db()));
        break;
      }
      StmtGuard g{cs};  // clears the bindings, which point into `lq`
      int i = 1;
      for (const auto& p : lq.countParams) bindValue(cs, i++, p, TextBinding::borrowed);
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


}  // namespace restd::store
