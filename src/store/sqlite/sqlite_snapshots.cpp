#include "store/sqlite/sqlite_detail.h"

#include <cstdio>
#include <filesystem>

#include "common/time.h"
#include "store/sql/account_txn.h"

namespace restd::store {

using namespace sqlite;

// ---------------------------------------------------------------- snapshots and backups

// A reader connection inside one read transaction (deferred BEGIN: it starts
// at the first statement and holds that instant until the lease ends).
class SqliteStore::Snapshot final : public ReadSnapshot {
 public:
  Snapshot(const SqliteStore& store, SqliteConnection& conn) : store_(store), conn_(conn) {}
  Status count(const CollectionSpec& c, int64_t& out) override {
    out = 0;
    return query(conn_, store_.sqlFor(c).countAll, {}, [&](sqlite3_stmt* st) { out = sqlite3_column_int64(st, 0); });
  }
  Status records(const CollectionSpec& c, const std::function<bool(Record&)>& each) override {
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
    Status e = rc == SQLITE_DONE ? Status{} : sqlError(conn_.db(), rc);
    sqlite3_finalize(st);
    return e;
  }
  Status users(std::vector<User>& out) override {
    return query(conn_, std::string(sql::AccountTxn::kAllUsersSql), {}, [&](sqlite3_stmt* st) {
      out.emplace_back();
      readUser(st, out.back());
    });
  }
  Status apiKeys(std::vector<std::pair<ApiKey, std::string>>& out) override {
    return query(conn_, std::string(sql::AccountTxn::kAllApiKeysSql), {}, [&](sqlite3_stmt* st) {
      SqliteRow row{st};
      out.push_back(sql::AccountTxn::apiKeyFromRow(row));
    });
  }
  Status tokens(const std::function<void(const StoredToken&)>& each) override {
    return query(conn_, std::string(sql::AccountTxn::kAllTokensSql), {}, [&](sqlite3_stmt* st) {
      SqliteRow row{st};
      each(sql::AccountTxn::tokenFromRow(row));
    });
  }

 private:
  const SqliteStore& store_;
  SqliteConnection& conn_;
};

Status SqliteStore::readSnapshot(const std::function<Status(ReadSnapshot&)>& fn) {
  return withReader([&](SqliteConnection& c) {
    // In memory mode the writer's connection is not inside a snapshot of its own.
    bool own = !c.inSnapshot();
    if (own && !c.exec("BEGIN")) return sqlError(c.db(), sqlite3_errcode(c.db()));
    Snapshot snap(*this, c);
    Status e = fn(snap);
    if (own) c.exec("COMMIT");
    return e;
  }, /*fresh=*/true);
}

Status SqliteStore::copyInto(const Config& config, const std::string& path, const ProgressFn& progress) {
  // In memory there is no file to copy; otherwise the file holds every table.
  if (path_.empty()) return Store::copyInto(config, path, progress);
  std::string error;
  auto source = SqliteConnection::open(path_, config_, error);
  if (!source) return Status{StatusCode::unavailable, {}, error};
  // The read transaction every step runs in: the copy is of this instant,
  // and the server's commits meanwhile neither restart nor disturb it.
  if (!source->exec("BEGIN") || !source->exec("SELECT count(*) FROM sqlite_schema"))
    return sqlError(source->db(), sqlite3_errcode(source->db()));
  sqlite3* target = nullptr;
  if (sqlite3_open_v2(path.c_str(), &target, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    Status e{StatusCode::unavailable, {}, "cannot write " + path + ": " + (target ? sqlite3_errmsg(target) : "out of memory")};
    sqlite3_close(target);
    return e;
  }
  Status result;
  sqlite3_backup* b = sqlite3_backup_init(target, "main", source->db(), "main");
  if (!b) {
    result = Status{StatusCode::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  } else {
    int64_t pageSize = 4096;
    // Only paces the copy: without it, 4096 is near enough.
    (void)query(*source, "PRAGMA page_size", {}, [&](sqlite3_stmt* st) { pageSize = sqlite3_column_int64(st, 0); });
    // 1024 pages (4 MiB) a step: progress and Ctrl-C every few milliseconds.
    int rc;
    while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      CopyProgress p;
      p.total = sqlite3_backup_pagecount(b);
      p.done = p.total - sqlite3_backup_remaining(b);
      p.bytes = p.done * pageSize;
      p.unit = "pages";
      if (progress && !progress(p)) {
        result = Status{StatusCode::internal, {}, std::string(kInterruptedDetail)};
        break;
      }
      if (rc != SQLITE_OK) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!result && rc != SQLITE_DONE)
      result = Status{rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN
                         ? StatusCode::unavailable
                         : StatusCode::internal,
                     {}, "cannot write " + path + ": " + sqlite3_errstr(rc)};
    int finished = sqlite3_backup_finish(b);
    if (!result && finished != SQLITE_OK)
      result = Status{StatusCode::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  }
  // Should the copy have a WAL of its own (its header says WAL, like its
  // source's), fold it in: the file alone is complete before it is renamed.
  if (!result && sqlite3_exec(target, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) != SQLITE_OK)
    result = Status{StatusCode::unavailable, {}, "cannot write " + path + ": " + sqlite3_errmsg(target)};
  sqlite3_close(target);
  source->exec("COMMIT");
  return result;
}

}  // namespace restd::store
