// What a migration must do to one collection's table, decided once for both
// engines: the engines only read what exists and run the statements.
// Pure functions: thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "store/sql/sql_builder.h"

namespace restd::store::sql {

// (field, type name) as recorded in _restd_schema.
using RecordedFields = std::vector<std::pair<std::string, std::string>>;

struct TablePlan {
  std::vector<std::string> refusals;       // destructive changes not allowed: one line each
  std::vector<std::string> drop;           // fields to drop (removed or retyped; only when allowed)
  std::vector<const FieldSpec*> add;       // fields to add (new, or retyped after the drop)
};
TablePlan planTable(const CollectionSpec& c, const RecordedFields& recorded, bool allowDestructive);

// What a migration asks of an engine, inside its migration's transaction.
// Each step returns false after keeping its reason in `error`.
class SchemaSteps {
 public:
  virtual ~SchemaSteps() = default;
  // restd's own tables (schema, accounts, tokens, idempotency, events, ...).
  virtual bool createSystemTables() = 0;
  // Whether the collection's table exists, and the fields _restd_schema records for it.
  virtual bool readTable(const CollectionSpec& c, bool& exists, RecordedFields& recorded) = 0;
  // Creates the table and forgets what _restd_schema recorded for it.
  virtual bool createTable(const CollectionSpec& c) = 0;
  virtual bool dropColumn(const CollectionSpec& c, const std::string& field) = 0;
  // Adds the column (to an existing table; a new one has it) with the
  // field's default in every record, and records the field.
  virtual bool addColumn(const CollectionSpec& c, const FieldSpec& f, bool tableExisted) = 0;
  // Makes, rebuilds and drops indexes until they are what the config wants.
  virtual bool syncIndexes(const CollectionSpec& c) = 0;

  std::string error;  // why the last step failed
};

// Brings the schema to what `config` says, in the same order on both
// engines: the system tables, then each collection. Changes that drop data
// without `allowDestructive` are refused all together (`destructive` set,
// `error` lists them). False with `error` set: the caller rolls back.
bool migrateSchema(SchemaSteps& steps, const Config& config, bool allowDestructive, bool& destructive,
                   std::string& error);

// CREATE TABLE for a collection that has no table yet.
std::string createTableSql(Dialect d, const CollectionSpec& c);

// The unique indexes a collection wants: the slug always (partial: records
// with a slug only), declared fields when unique. In owner collections both
// are unique per owner (SPEC §4), so the owner is the index's second column;
// the first stays the value, so lookups by slug or value alone still use it.
// Non-unique `index = true` fields get an index on (field, id): a list
// sorted on the field is ordered by it and then by id (restd's tie-break,
// in the same direction), so the index gives whole pages in order without a
// sort, and filters on other fields are checked as it is walked (the
// planner's choice, from the statistics: store/sqlite/statistics.cpp). In
// PostgreSQL the field is NULLS FIRST, as restd sorts NULL as the smallest
// value; a backward scan then gives DESC NULLS LAST.
struct IndexSpec {
  std::string name;
  std::string create;  // the whole CREATE INDEX statement (compared to tell a changed definition)
  std::string field;   // the field it serves ("slug" for the slug index)
  bool unique = true;
};
std::vector<IndexSpec> wantedIndexes(const CollectionSpec& c, Dialect d);
// Every index name restd may have made for `field` (dropped when no longer wanted).
std::vector<std::string> indexNamesFor(const CollectionSpec& c, const std::string& field);

// The message for refused destructive changes.
std::string refusalMessage(const std::vector<std::string>& refusals);

}  // namespace restd::store::sql
