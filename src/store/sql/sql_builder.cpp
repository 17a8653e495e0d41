#include "store/sql/sql_builder.h"

#include "config/names.h"

namespace restd::store::sql {

std::string quote(std::string_view ident) {
  std::string q(ident.size() + 2, '"');
  ident.copy(q.data() + 1, ident.size());
  return q;
}

std::string param(Dialect d, int n) { return (d == Dialect::sqlite ? "?" : "$") + std::to_string(n); }

std::vector<std::string> recordColumns(const CollectionSpec& c) {
  std::vector<std::string> cols(std::begin(kSystemFields), std::end(kSystemFields));
  for (const auto& f : c.fields) cols.push_back(f.name);
  cols.push_back("_extra");
  return cols;
}

std::string_view columnType(Dialect d, FieldType t) {
  // Text compares byte by byte in both engines (SQLite's BINARY, PostgreSQL's
  // "C" collation): eq, ranges, sort order and unique values agree.
  // Booleans are 0/1 and datetimes Unix milliseconds in both, so filters and
  // cursors carry the same values whatever the engine. Objects and arrays
  // are JSON text, not jsonb, which would reorder their members.
  bool pg = d == Dialect::postgres;
  switch (t) {
    case FieldType::string: return pg ? "TEXT COLLATE \"C\"" : "TEXT";
    case FieldType::integer: return pg ? "BIGINT" : "INTEGER";
    case FieldType::number: return "NUMERIC";  // exact: integers stay integers
    case FieldType::boolean: return pg ? "SMALLINT" : "INTEGER";
    case FieldType::datetime: return pg ? "BIGINT" : "INTEGER";
    case FieldType::object:
    case FieldType::array: return pg ? "TEXT COLLATE \"C\"" : "TEXT";
  }
  return "TEXT";
}

namespace {

std::string selectList(const CollectionSpec& c) {
  std::string s;
  for (const auto& col : recordColumns(c)) {
    if (!s.empty()) s += ',';
    s += quote(col);
  }
  return s;
}

// Null-safe equality: SQLite's IS, PostgreSQL's IS NOT DISTINCT FROM.
std::string_view isSame(Dialect d) { return d == Dialect::sqlite ? " IS " : " IS NOT DISTINCT FROM "; }
std::string_view isNotSame(Dialect d) { return d == Dialect::sqlite ? " IS NOT " : " IS DISTINCT FROM "; }

// Both engines sort NULL as the smallest value (SQLite's rule): first
// ascending, last descending.
std::string_view nullsOrder(Dialect d, bool descending) {
  if (d == Dialect::sqlite) return "";
  return descending ? " NULLS LAST" : " NULLS FIRST";
}

class Params {
 public:
  Params(Dialect d, std::vector<SqlValue>& values) : d_(d), values_(values) {}
  std::string add(SqlValue v) {
    values_.push_back(std::move(v));
    return param(d_, static_cast<int>(values_.size()));
  }

 private:
  Dialect d_;
  std::vector<SqlValue>& values_;
};

std::string_view compareOp(FilterOp op) {
  switch (op) {
    case FilterOp::gt: return " > ";
    case FilterOp::gte: return " >= ";
    case FilterOp::lt: return " < ";
    case FilterOp::lte: return " <= ";
    default: return " = ";
  }
}

// "Strictly after `v`" for one sort key, NULL being the smallest value.
std::string after(const SortKey& k, const SqlValue& v, Params& p) {
  std::string col = quote(k.column);
  bool null = std::holds_alternative<std::monostate>(v);
  if (!k.descending) return null ? col + " IS NOT NULL" : col + " > " + p.add(v);
  if (null) return "1 = 0";
  return "(" + col + " < " + p.add(v) + " OR " + col + " IS NULL)";
}

}  // namespace

CollectionSql buildCollectionSql(Dialect d, const CollectionSpec& c) {
  auto P = [d](int n) { return param(d, n); };
  std::string table = quote(c.name);
  CollectionSql q;
  q.select = "SELECT " + selectList(c) + " FROM " + table;
  q.get = q.select + " WHERE \"id\" = " + P(1);
  // Owner collections: slugs are unique per owner, so a slug may name one
  // record per owner; the viewer's own comes first, and only it unless $3.
  std::string lock = d == Dialect::postgres ? " FOR UPDATE" : "";
  if (c.slugFrom && c.visibility == Visibility::owner) {
    std::string byId = "(\"id\" = " + P(1) + ")", mine = "(\"owner\" = " + P(2) + ")";
    if (d == Dialect::postgres) {
      // PostgreSQL infers a parameter's type from its first use: $3 is boolean.
      q.get += " OR (\"slug\" = " + P(1) + " AND (" + P(3) + "::boolean OR \"owner\" = " + P(2) + "))";
    } else {
      q.get += " OR (\"slug\" = " + P(1) + " AND (" + P(3) + " OR \"owner\" = " + P(2) + "))";
    }
    q.get += " ORDER BY " + byId + " DESC, " + mine + " DESC, \"id\" LIMIT 1";
  } else if (c.slugFrom) {
    q.get += " OR \"slug\" = " + P(1) + " ORDER BY (\"id\" = " + P(1) + ") DESC LIMIT 1";
  }
  // FOR UPDATE cannot follow ORDER BY ... LIMIT in a way that locks the
  // other candidates; it locks the one row returned, which is what a write needs.
  q.getForUpdate = q.get + lock;
  q.slugTaken = "SELECT 1 FROM " + table + " WHERE \"slug\" = " + P(1);
  if (c.visibility == Visibility::owner) q.slugTaken += " AND \"owner\" = " + P(2);
  q.slugTaken += " LIMIT 1";
  std::string cols, marks, sets;
  int n = 0;
  for (const auto& col : recordColumns(c)) {
    if (n++) {
      cols += ',';
      marks += ',';
      sets += ',';
    }
    cols += quote(col);
    marks += P(n);
    sets += quote(col) + " = " + P(n);
  }
  q.insert = "INSERT INTO " + table + " (" + cols + ") VALUES (" + marks + ")";
  // PostgreSQL: a failed statement would abort the whole transaction, and
  // with it the batch's other items; a taken value skips the row instead,
  // and the store names the field (pg_store.cpp).
  if (d == Dialect::postgres) q.insert += " ON CONFLICT DO NOTHING";
  q.update = "UPDATE " + table + " SET " + sets + " WHERE \"id\" = " + P(1);
  q.remove = "DELETE FROM " + table + " WHERE \"id\" = " + P(1);
  q.countAll = "SELECT count(*) FROM " + table;
  return q;
}

Status buildListSql(Dialect d, const CollectionSpec& c, const CollectionSql& fixed, const ListQuery& q, ListSql& out) {
  std::string where;
  Params p(d, out.pageParams);
  auto andClause = [&](const std::string& clause) {
    where += where.empty() ? " WHERE " : " AND ";
    where += clause;
  };
  for (const auto& f : q.filters) {
    std::string col = quote(f.column);
    switch (f.op) {
      case FilterOp::in: {
        std::string list;
        for (const auto& v : f.values) list += (list.empty() ? "" : ",") + p.add(v);
        andClause(col + " IN (" + list + ")");
        break;
      }
      case FilterOp::like: {
        // Case-insensitive for ASCII in both: SQLite's LIKE is; PostgreSQL's
        // ILIKE under the "C" collation folds ASCII letters only.
        const auto* glob = std::get_if<std::string>(&f.values.at(0));
        std::string pattern = p.add(likePattern(glob ? *glob : std::string()));
        andClause(col + (d == Dialect::sqlite ? " LIKE " : " ILIKE ") + pattern + " ESCAPE '\\'");
        break;
      }
      case FilterOp::ne: andClause(col + std::string(isNotSame(d)) + p.add(f.values.at(0))); break;
      default: andClause(col + std::string(compareOp(f.op)) + p.add(f.values.at(0))); break;
    }
  }
  if (q.owner) andClause("\"owner\" = " + p.add(*q.owner));
  if (q.count && !q.after) {
    out.count = "SELECT count(*) FROM " + quote(c.name) + where;
    out.countParams = out.pageParams;
  }

  std::vector<SortKey> keys = q.sort;
  keys.push_back(SortKey{"id", keys.empty() ? false : keys.back().descending});
  if (q.after) {
    // Keyset: (k1 after v1) OR (k1 IS v1 AND k2 after v2) OR ...
    const auto& values = *q.after;
    if (values.size() != keys.size()) return Status{StatusCode::internal, {}, "cursor does not fit the sort"};
    std::string clause = "(";
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i) clause += " OR ";
      clause += "(";
      for (size_t j = 0; j < i; ++j) clause += quote(keys[j].column) + std::string(isSame(d)) + p.add(values[j]) + " AND ";
      clause += after(keys[i], values[i], p) + ")";
    }
    andClause(clause + ")");
  }
  std::string order;
  for (const auto& k : keys) {
    order += order.empty() ? " ORDER BY " : ", ";
    order += quote(k.column) + (k.descending ? " DESC" : " ASC") + std::string(nullsOrder(d, k.descending));
  }
  std::string limit = " LIMIT " + p.add(q.limit + 1) + " OFFSET " + p.add(q.after ? int64_t(0) : q.offset);
  bool idOrderOnly = q.sort.empty() && q.filters.empty() && !q.owner && !q.after;
  if (idOrderOnly && q.offset > 0) {
    // Deep offsets in id order: skip through the primary-key index alone,
    // then fetch just the page's rows.
    out.page = fixed.select + " WHERE \"id\" IN (SELECT \"id\" FROM " + quote(c.name) + order + limit + ")" + order;
  } else {
    out.page = fixed.select + where + order + limit;
  }
  return {};
}

std::string likePattern(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 4);
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\' && i + 1 < v.size() && v[i + 1] == '*') {
      out += '*';
      ++i;
    } else if (c == '*') {
      out += '%';
    } else if (c == '%' || c == '_' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace restd::store::sql
