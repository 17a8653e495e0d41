// The SQL text both engines run, written once with the few places where
// SQLite and PostgreSQL differ named by a Dialect: parameter markers,
// null-safe comparison, case-insensitive LIKE and where NULLs sort.
//
// Identifiers come only from the validated config ([a-z][a-z0-9_]*) or are
// fixed system names; every value is a parameter (SqlValue), never text.
// Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "store/store.h"

namespace restd::store::sql {

enum class Dialect { sqlite, postgres };

// "name" with double quotes: keeps SQL keywords usable as field names.
std::string quote(std::string_view ident);

// The n-th parameter marker (1-based): ?n in SQLite, $n in PostgreSQL.
std::string param(Dialect d, int n);

// The columns of a collection's table in select order: the system fields,
// the declared fields, then `_extra` (undeclared members as one JSON object).
inline constexpr int kFirstFieldColumn = 6;  // id, slug, createdAt, updatedAt, version, owner
std::vector<std::string> recordColumns(const CollectionSpec& c);

// The column type a field is stored in.
std::string_view columnType(Dialect d, FieldType t);

// A collection's fixed statements. Parameters: get ($1 id or slug, $2 the
// viewer, $3 true when any owner's slug may match), slugTaken ($1 slug, $2
// owner), insert and update (every column in recordColumns() order; update
// finds the row by $1; in PostgreSQL an insert that meets a taken unique
// value inserts nothing instead of failing), remove ($1 id).
struct CollectionSql {
  std::string select;     // SELECT <columns> FROM "t"
  std::string get;
  std::string getForUpdate;  // get, locking the row until the transaction ends (PostgreSQL; = get in SQLite)
  std::string slugTaken;
  std::string insert;
  std::string update;
  std::string remove;
  std::string countAll;   // SELECT count(*) FROM "t"
};
CollectionSql buildCollectionSql(Dialect d, const CollectionSpec& c);

// One list request: the page query (its parameters end with limit+1 and the
// offset) and, when a total is wanted, the count query without the keyset
// condition.
struct ListSql {
  std::string page;
  std::vector<SqlValue> pageParams;
  std::string count;        // empty when no total is wanted
  std::vector<SqlValue> countParams;
};
// Fails (internal) only on a cursor that does not fit the sort, which the
// API checks first.
Status buildListSql(Dialect d, const CollectionSpec& c, const CollectionSql& fixed, const ListQuery& q, ListSql& out);

// The store's form of a `like` filter: the API's pattern (`*` any run, `\*`
// a literal star, everything else literal) as a SQL LIKE pattern with '\'
// escapes.
std::string likePattern(std::string_view glob);

}  // namespace restd::store::sql
