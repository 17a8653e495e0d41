// What pg_store.cpp and pg_pipeline.cpp share: libpq results as errors and
// as the record codec's rows, and the stored form of text. Private to
// store/postgres/.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstring>
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
Error pgError(PGconn* conn, const PGresult* res);

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
Error readGot(const CollectionSpec& c, const PGresult* res, Record& out);
// Both on one connection: `sqlText` is the collection's get or getForUpdate.
Error getRecord(PgConnection& conn, const std::string& sqlText, const CollectionSpec& c, std::string_view idOrSlug,
                SlugScope scope, Record& out);

}  // namespace restd::store::pg
