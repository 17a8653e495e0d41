// The SQLite writer: one thread, jobs grouped into shared transactions
// (group commit), each job in its own SAVEPOINT (store/store.h).
#include "store/sqlite/sqlite_detail.h"

#include <chrono>
#include <cstdio>

#include "common/json.h"
#include "common/time.h"
#include "store/sql/account_txn.h"

namespace restd::store {

using namespace sqlite;

// ---------------------------------------------------------------- writes

class SqliteStore::Txn final : public sql::AccountTxn {
 public:
  Txn(const SqliteStore& store, SqliteConnection& conn)
      : AccountTxn(sql::Dialect::sqlite), store_(store), conn_(conn) {}
  Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) override {
    return getRecord(conn_, store_.sqlFor(c), c, idOrSlug, out, {});
  }
  Status nested(const std::function<bool()>& fn) override {
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
  Status insert(const CollectionSpec& c, const Record& r) override { return run(store_.sqlFor(c).insert, c, r, false); }
  Status update(const CollectionSpec& c, const Record& r) override { return run(store_.sqlFor(c).update, c, r, true); }
  Status remove(const CollectionSpec& c, std::string_view id) override {
    sqlite3_stmt* st = conn_.prepare(store_.sqlFor(c).remove);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    bindValue(st, 1, std::string(id));
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), rc);
    if (sqlite3_changes(conn_.db()) == 0) return Status{StatusCode::notFound, {}, {}};
    return {};
  }
  Status getStoredReply(std::string_view userId, std::string_view key, int64_t notBefore, StoredReply& out) override {
    sqlite3_stmt* st = conn_.prepare(
        "SELECT requestHash, status, contentType, headers, body, createdAt FROM _restd_idempotency "
        "WHERE userId = ? AND key = ? AND createdAt >= ?");
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};
    bindValue(st, 1, std::string(userId));
    bindValue(st, 2, std::string(key));
    bindValue(st, 3, notBefore);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return Status{StatusCode::notFound, {}, {}};
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
  Status slugTaken(const CollectionSpec& c, std::string_view owner, std::string_view slug, bool& taken) override {
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
  Status execute(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange) override {
    return exec(sqlText, params, mustChange);
  }

 private:
  Status run(const std::string& sql, const CollectionSpec& c, const Record& r, bool mustExist) {
    sqlite3_stmt* st = conn_.prepare(sql);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};  // resets and clears the bindings, which point into `r` and `scratch`
    thread_local std::vector<std::string> scratch;
    SqliteBinder binder{st};
    sql::bindRecord(binder, c, r, scratch);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), sqlite3_extended_errcode(conn_.db()));
    if (mustExist && sqlite3_changes(conn_.db()) == 0) return Status{StatusCode::notFound, {}, {}};
    return {};
  }
  Status exec(const std::string& sql, const std::vector<SqlValue>& params, bool mustChange = false) {
    sqlite3_stmt* st = conn_.prepare(sql);
    if (!st) return sqlError(conn_.db(), sqlite3_errcode(conn_.db()));
    StmtGuard g{st};  // clears the bindings, which point into `params`
    int i = 1;
    for (const auto& p : params) bindValue(st, i++, p, TextBinding::borrowed);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return sqlError(conn_.db(), sqlite3_extended_errcode(conn_.db()));
    if (mustChange && sqlite3_changes(conn_.db()) == 0) return Status{StatusCode::notFound, {}, {}};
    return {};
  }
  const SqliteStore& store_;
  SqliteConnection& conn_;
};


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

}  // namespace restd::store
