// What the PostgreSQL engine's files share (pg_store.cpp, pg_accounts.cpp,
// pg_writes.cpp, pg_schema.cpp, pg_snapshots.cpp, pg_pipeline.cpp): libpq results as errors and
// as the record codec's rows, and the stored form of text. Private to
// store/postgres/.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace restd::store::pg {

// A text value as stored (see "text" in pg_store.cpp) back into `buf`;
// returns a view of the value (of `t` itself when it needed no escaping).
std::string_view unescapeText(std::string_view t, std::string& buf);
// libpq's message on one line.
std::string oneLine(std::string_view m);
int64_t toInt64(const char* s);
// A failed result (or a lost connection) as a store Error: SQLSTATE decides
// the status; unique violations name their field.
Status pgError(PGconn* conn, const PGresult* res);

// The record codec's Row over one result row.
struct PgRow {
  const PGresult* res;
  int row;
  std::string buf;  // text() of an escaped value; valid until the next text()
  bool isNull(int c) const { return PQgetisnull(res, row, c); }
  bool isInteger(int c) const;
  int64_t integer(int c) const { return toInt64(PQgetvalue(res, row, c)); }
  double real(int c) const { return std::strtod(PQgetvalue(res, row, c), nullptr); }
  std::string_view text(int c) {
    return unescapeText(std::string_view(PQgetvalue(res, row, c), static_cast<size_t>(PQgetlength(res, row, c))), buf);
  }
};

// The parameters of a collection's `get` statement (sql::CollectionSql::get)
// for one id or slug, and its result as get() answers it.
void getParams(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, PgParams& out);
Status readGot(const CollectionSpec& c, const PGresult* res, Record& out);
// Both on one connection: `sqlText` is the collection's get or getForUpdate.
Status getRecord(PgConnection& conn, const std::string& sqlText, const CollectionSpec& c, std::string_view idOrSlug,
                SlugScope scope, Record& out);

// One column of a result row as text (unescaped).
std::string textAt(const PGresult* res, int row, int col);
// A stable 64-bit hash (FNV-1a) for advisory lock keys: the same on every
// node, unlike std::hash.
int64_t lockKey(std::initializer_list<std::string_view> parts);
// Row `i` of a user query (sql::AccountTxn's column order).
void readUser(const PGresult* r, int i, User& u);

}  // namespace restd::store::pg

namespace restd::store {

template <typename Fn>
Status PgStore::withConnection(Fn&& fn) {
  // An idle connection finds out that PostgreSQL restarted only when it is
  // used: then the read is tried once more on a new connection (reads
  // change nothing, and `fn` starts its output afresh).
  for (int attempt = 0;; ++attempt) {
    std::string error;
    auto conn = acquire(error);
    if (!conn) return Status{StatusCode::unavailable, {}, error};
    Status e = fn(*conn);
    bool lost = conn->broken();
    release(std::move(conn));
    if (!lost || attempt == 1) return e;
  }
}

}  // namespace restd::store
