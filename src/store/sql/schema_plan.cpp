#include "store/sql/schema_plan.h"

namespace restd::store::sql {

TablePlan planTable(const CollectionSpec& c, const RecordedFields& recorded, bool allowDestructive) {
  TablePlan plan;
  // Removed or retyped fields lose data: refused unless allowed.
  for (const auto& [name, type] : recorded) {
    const FieldSpec* f = c.field(name);
    bool removed = !f;
    bool retyped = f && fieldTypeName(f->type) != type;
    if (!removed && !retyped) continue;
    if (!allowDestructive) {
      plan.refusals.push_back(removed ? "collection \"" + c.name + "\": field \"" + name +
                                            "\" was removed from the config (its data would be dropped)"
                                      : "collection \"" + c.name + "\": field \"" + name + "\" changed type from " +
                                            type + " to " + std::string(fieldTypeName(f->type)) +
                                            " (its data would be dropped)");
      continue;
    }
    plan.drop.push_back(name);
  }
  for (const auto& f : c.fields) {
    bool known = false;
    for (const auto& [name, type] : recorded)
      if (name == f.name && type == fieldTypeName(f.type)) known = true;
    if (!known) plan.add.push_back(&f);
  }
  return plan;
}

std::string createTableSql(Dialect d, const CollectionSpec& c) {
  bool pg = d == Dialect::postgres;
  std::string text = pg ? "TEXT COLLATE \"C\"" : "TEXT";
  std::string integer = pg ? "BIGINT" : "INTEGER";
  std::string sql = "CREATE TABLE " + quote(c.name) + " (\"id\" " + text + " PRIMARY KEY NOT NULL, \"slug\" " + text +
                    ", \"createdAt\" " + integer + " NOT NULL, \"updatedAt\" " + integer + " NOT NULL, \"version\" " +
                    integer + " NOT NULL, \"owner\" " + text + " NOT NULL";
  for (const auto& f : c.fields) sql += ", " + quote(f.name) + " " + std::string(columnType(d, f.type));
  sql += ", \"_extra\" " + text + ")";
  return sql;
}

std::vector<IndexSpec> wantedIndexes(const CollectionSpec& c, Dialect d) {
  std::vector<IndexSpec> out;
  std::string table = quote(c.name);
  std::string ownerColumn = c.visibility == Visibility::owner ? ", \"owner\"" : "";
  // The slug index is partial, so a collection without slug_from pays
  // nothing for it on each insert.
  std::string slug = c.name + "__unique_slug";
  out.push_back({slug, "CREATE UNIQUE INDEX " + quote(slug) + " ON " + table + " (\"slug\"" + ownerColumn +
                           ") WHERE \"slug\" IS NOT NULL",
                 "slug", true});
  for (const auto& f : c.fields) {
    if (f.unique) {
      std::string name = c.name + "__unique_" + f.name;
      out.push_back({name, "CREATE UNIQUE INDEX " + quote(name) + " ON " + table + " (" + quote(f.name) + ownerColumn + ")",
                     f.name, true});
    } else if (f.index) {
      std::string name = c.name + "__index_" + f.name;
      out.push_back({name,
                     "CREATE INDEX " + quote(name) + " ON " + table + " (" + quote(f.name) +
                         (d == Dialect::postgres ? " NULLS FIRST" : "") + ", \"id\")",
                     f.name, false});
    }
  }
  return out;
}

std::vector<std::string> indexNamesFor(const CollectionSpec& c, const std::string& field) {
  return {c.name + "__unique_" + field, c.name + "__index_" + field};
}

std::string refusalMessage(const std::vector<std::string>& refusals) {
  std::string msg = "refusing a migration that would destroy data (pass --allow-destructive-migration to apply it):";
  for (const auto& r : refusals) msg += "\n  " + r;
  return msg;
}

namespace {

// One collection, or what it may not do without --allow-destructive added
// to `refusals` (then nothing of it changes).
bool migrateCollection(SchemaSteps& steps, const CollectionSpec& c, bool allowDestructive,
                       std::vector<std::string>& refusals) {
  bool exists = false;
  RecordedFields recorded;
  if (!steps.readTable(c, exists, recorded)) return false;
  if (!exists) {
    if (!steps.createTable(c)) return false;
    recorded.clear();
  }
  TablePlan plan = planTable(c, recorded, allowDestructive);
  if (!plan.refusals.empty()) {
    refusals.insert(refusals.end(), plan.refusals.begin(), plan.refusals.end());
    return true;
  }
  for (const auto& name : plan.drop)
    if (!steps.dropColumn(c, name)) return false;
  for (const FieldSpec* f : plan.add)
    if (!steps.addColumn(c, *f, exists)) return false;
  return steps.syncIndexes(c);
}

}  // namespace

bool migrateSchema(SchemaSteps& steps, const Config& config, bool allowDestructive, bool& destructive,
                   std::string& error) {
  destructive = false;
  std::vector<std::string> refusals;
  bool ok = steps.createSystemTables();
  for (size_t i = 0; ok && i < config.collections.size(); ++i)
    ok = migrateCollection(steps, config.collections[i], allowDestructive, refusals);
  if (!ok) {
    error = steps.error;
    return false;
  }
  if (refusals.empty()) return true;
  destructive = true;
  error = refusalMessage(refusals);
  return false;
}

}  // namespace restd::store::sql
