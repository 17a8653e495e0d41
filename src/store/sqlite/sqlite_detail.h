// What the SQLite engine's files share (sqlite_store.cpp, sqlite_writes.cpp,
// sqlite_accounts.cpp, sqlite_schema.cpp, sqlite_snapshots.cpp): error
// mapping, binding, the record codec's binder and row, and the reader lease.
// Private to store/sqlite/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/sql/record_codec.h"
#include "store/sqlite/sqlite_store.h"

namespace restd::store {
namespace sqlite {

// The store status of a SQLite result code.
StatusCode statusOf(int rc);
// The error of a failed call on `db`; a unique violation names its field.
Status sqlError(sqlite3* db, int rc);
// Binds `v` as parameter i. Text is copied by SQLite (a temporary may go
// before the step), unless `borrowed`: then `v` must stay where it is until
// the statement's bindings are cleared (a StmtGuard), and SQLite reads it in
// place (an exec()'s parameters, a list's values).
enum class TextBinding { copied, borrowed };
void bindValue(sqlite3_stmt* st, int i, const SqlValue& v, TextBinding text = TextBinding::copied);

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

void readRecord(const CollectionSpec& c, sqlite3_stmt* st, Record& r);
// One record by id or slug with the collection's cached statement.
Status getRecord(SqliteConnection& conn, const sql::CollectionSql& sql, const CollectionSpec& c, std::string_view idOrSlug,
                Record& out, SlugScope scope);

std::string columnText(sqlite3_stmt* st, int col);

template <typename Row>
Status query(SqliteConnection& c, const std::string& sql, const std::vector<SqlValue>& params, Row&& row) {
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

void readUser(sqlite3_stmt* st, User& u);

}  // namespace sqlite

template <typename Fn>
Status SqliteStore::withReader(Fn&& fn, bool fresh) {
  if (!fileHealthyCached()) return Status{StatusCode::unavailable, {}, "database file missing or read-only"};
  if (path_.empty()) {
    std::lock_guard lock(memoryMutex_);
    return fn(*writer_);
  }
  std::string error;
  auto conn = acquireReader(error, fresh);
  if (!conn) return Status{StatusCode::unavailable, {}, error};
  Status e = fn(*conn);
  // A fresh read leaves no snapshot behind: one that young would otherwise
  // pass for current with the next request (kSnapshotMaxAgeMs) before the
  // watch has seen another process's commit.
  if (fresh) conn->endSnapshot();
  releaseReader(std::move(conn), e && e.code != StatusCode::notFound);
  return e;
}

}  // namespace restd::store
