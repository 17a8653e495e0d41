#include "store/sqlite/sqlite_detail.h"

#include "store/sql/account_txn.h"

namespace restd::store::sqlite {

StatusCode statusOf(int rc) {
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
      return StatusCode::unavailable;
    default:
      return StatusCode::internal;
  }
}

Status sqlError(sqlite3* db, int rc) {
  Status e;
  e.code = statusOf(rc);
  e.detail = std::string("sqlite: ") + sqlite3_errmsg(db);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    e.code = StatusCode::uniqueViolation;
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

void bindValue(sqlite3_stmt* st, int i, const SqlValue& v, TextBinding text) {
  if (std::holds_alternative<std::monostate>(v)) sqlite3_bind_null(st, i);
  else if (auto* n = std::get_if<int64_t>(&v)) sqlite3_bind_int64(st, i, *n);
  else if (auto* d = std::get_if<double>(&v)) sqlite3_bind_double(st, i, *d);
  else {
    const auto& s = std::get<std::string>(v);
    sqlite3_bind_text64(st, i, s.data(), s.size(), text == TextBinding::borrowed ? SQLITE_STATIC : SQLITE_TRANSIENT,
                        SQLITE_UTF8);
  }
}

void readRecord(const CollectionSpec& c, sqlite3_stmt* st, Record& r) {
  SqliteRow row{st};
  sql::readRecord(c, row, r);
}

Status getRecord(SqliteConnection& conn, const sql::CollectionSql& sql, const CollectionSpec& c, std::string_view idOrSlug,
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
  if (rc == SQLITE_DONE) return Status{StatusCode::notFound, {}, {}};
  if (rc != SQLITE_ROW) return sqlError(conn.db(), rc);
  readRecord(c, st, out);
  return {};
}

std::string columnText(sqlite3_stmt* st, int col) {
  const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
  return t ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, col))) : std::string();
}

void readUser(sqlite3_stmt* st, User& u) {
  SqliteRow row{st};
  u = sql::AccountTxn::userFromRow(row);
}

}  // namespace restd::store::sqlite
