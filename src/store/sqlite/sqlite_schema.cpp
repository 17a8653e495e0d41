// The SQLite schema: system tables, and each collection's table, columns
// and indexes brought to what the configuration says (Store::migrate).
#include "store/sqlite/sqlite_detail.h"

#include "common/json.h"
#include "store/sql/account_txn.h"
#include "store/sql/schema_plan.h"

namespace restd::store {

using namespace sqlite;

namespace {

// The system tables restd keeps besides the collections (users, keys,
// tokens, idempotency, login failures; settings and events below).
constexpr const char* kAccountTablesSql =
    "CREATE TABLE IF NOT EXISTS _restd_users (id TEXT PRIMARY KEY NOT NULL, userName TEXT NOT NULL UNIQUE, "
    "role TEXT NOT NULL, passwordHash TEXT NOT NULL, createdAt INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _restd_apikeys (label TEXT PRIMARY KEY NOT NULL, keyHash TEXT NOT NULL "
    "UNIQUE, prefix TEXT NOT NULL, createdAt INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS _restd_tokens (tokenHash TEXT PRIMARY KEY NOT NULL, userId TEXT NOT NULL, "
    "apiKeyLabel TEXT NOT NULL, expiresAt INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS _restd_tokens_by_key ON _restd_tokens (apiKeyLabel);"
    "CREATE INDEX IF NOT EXISTS _restd_tokens_by_user ON _restd_tokens (userId);"
    "CREATE TABLE IF NOT EXISTS _restd_idempotency (userId TEXT NOT NULL, key TEXT NOT NULL, "
    "requestHash TEXT NOT NULL, status INTEGER NOT NULL, contentType TEXT NOT NULL, headers TEXT NOT NULL, "
    "body BLOB NOT NULL, createdAt INTEGER NOT NULL, PRIMARY KEY (userId, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS _restd_idempotency_by_age ON _restd_idempotency (createdAt);"
    "CREATE TABLE IF NOT EXISTS _restd_login_failures (id INTEGER PRIMARY KEY, key TEXT NOT NULL, "
    "at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_key ON _restd_login_failures (key, at);"
    "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_time ON _restd_login_failures (at);";

// A seq is never given twice without AUTOINCREMENT (and its extra write
// per insert) too: a new rowid is the largest plus one, and pruning
// always keeps the newest event.
constexpr const char* kEventsTableSql =
    "CREATE TABLE IF NOT EXISTS _restd_events (seq INTEGER PRIMARY KEY, "
    "collection TEXT NOT NULL, kind TEXT NOT NULL, recordId TEXT NOT NULL, owner TEXT NOT NULL, "
    "data TEXT NOT NULL, at INTEGER NOT NULL);";

// One migration, inside the writer's BEGIN IMMEDIATE. Each step returns
// false with `error` set; the caller rolls back.
class Migration final : public sql::SchemaSteps {
 public:
  explicit Migration(SqliteConnection& db) : db_(db) {}

  bool createSystemTables() override {
    if (!db_.exec("CREATE TABLE IF NOT EXISTS _restd_schema (collection TEXT NOT NULL, field TEXT NOT NULL, "
                  "type TEXT NOT NULL, PRIMARY KEY (collection, field)) WITHOUT ROWID"))
      return fail("cannot create _restd_schema: ");
    if (!db_.exec(kAccountTablesSql)) return fail("cannot create the user tables: ");
    if (!db_.exec(std::string(sql::AccountTxn::kSettingsTableSql).c_str())) return fail("cannot create _restd_settings: ");
    if (!db_.exec(kEventsTableSql)) return fail("cannot create _restd_events: ");
    return true;
  }

 private:
  // `what` and SQLite's message for the last failure.
  bool fail(const std::string& what) {
    error = what + sqlite3_errmsg(db_.db());
    return false;
  }

  // One statement, not cached (a migration runs once).
  bool step(const std::string& sql, const std::vector<SqlValue>& params = {}) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_.db(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return false;
    int i = 1;
    for (const auto& p : params) bindValue(st, i++, p);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }

  bool readTable(const CollectionSpec& c, bool& tableExists, sql::RecordedFields& existing) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_.db(), "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &st, nullptr) !=
        SQLITE_OK)
      return fail("cannot read the schema: ");
    sqlite3_bind_text(st, 1, c.name.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    tableExists = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail("cannot read the schema: ");
    if (sqlite3_prepare_v2(db_.db(), "SELECT field, type FROM _restd_schema WHERE collection=?", -1, &st, nullptr) !=
        SQLITE_OK)
      return fail("cannot read _restd_schema: ");
    sqlite3_bind_text(st, 1, c.name.c_str(), -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char* field = sqlite3_column_text(st, 0);
      const unsigned char* type = sqlite3_column_text(st, 1);
      if (field && type)
        existing.emplace_back(reinterpret_cast<const char*>(field), reinterpret_cast<const char*>(type));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail("cannot read _restd_schema: ");
    return true;
  }

  bool createTable(const CollectionSpec& c) override {
    if (!step(sql::createTableSql(sql::Dialect::sqlite, c))) return fail("cannot create table " + c.name + ": ");
    if (!step("DELETE FROM _restd_schema WHERE collection = ?", {c.name})) return fail("cannot reset schema: ");
    return true;
  }

  bool dropColumn(const CollectionSpec& c, const std::string& name) override {
    for (const auto& index : sql::indexNamesFor(c, name))
      if (!step("DROP INDEX IF EXISTS " + sql::quote(index))) return fail("cannot drop " + c.name + "." + name + ": ");
    if (!step("ALTER TABLE " + sql::quote(c.name) + " DROP COLUMN " + sql::quote(name)) ||
        !step("DELETE FROM _restd_schema WHERE collection = ? AND field = ?", {c.name, name}))
      return fail("cannot drop " + c.name + "." + name + ": ");
    return true;
  }

  bool addColumn(const CollectionSpec& c, const FieldSpec& f, bool tableExists) override {
    if (tableExists && !step("ALTER TABLE " + sql::quote(c.name) + " ADD COLUMN " + sql::quote(f.name) + " " +
                             std::string(sql::columnType(sql::Dialect::sqlite, f.type))))
      return fail("cannot add " + c.name + "." + f.name + ": ");
    if (!step("INSERT OR REPLACE INTO _restd_schema (collection, field, type) VALUES (?, ?, ?)",
              {c.name, f.name, std::string(fieldTypeName(f.type))}))
      return fail("cannot record schema: ");
    if (!tableExists || !f.defaultJson) return true;
    // Existing records get the field's default, bound like any other value.
    rapidjson::Document d;
    d.Parse(f.defaultJson->data(), f.defaultJson->size());
    sqlite3_stmt* st = nullptr;
    std::vector<std::string> scratch;
    bool filled = sqlite3_prepare_v2(db_.db(),
                                     ("UPDATE " + sql::quote(c.name) + " SET " + sql::quote(f.name) + " = ?").c_str(),
                                     -1, &st, nullptr) == SQLITE_OK;
    if (filled) {
      SqliteBinder binder{st};
      sql::bindField(binder, 1, f, d, scratch);
      filled = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (!filled) return fail("cannot fill " + c.name + "." + f.name + ": ");
    return true;
  }

  // The indexes follow the config (store/sql/schema_plan.h). One whose
  // definition differs from the one wanted (made by an older restd, or
  // before a change of visibility) is dropped and rebuilt; one no longer
  // wanted is dropped.
  bool syncIndexes(const CollectionSpec& c) override {
    std::vector<sql::IndexSpec> wanted = sql::wantedIndexes(c, sql::Dialect::sqlite);
    for (const auto& want : wanted) {
      if (ensureIndex(want)) continue;
      if (!want.unique || want.field == "slug") return fail("cannot index " + c.name + "." + want.field + ": ");
      error = "cannot make " + c.name + "." + want.field + " unique" +
              (c.visibility == Visibility::owner ? " per owner" : "") + ": existing records share values (" +
              sqlite3_errmsg(db_.db()) + ")";
      return false;
    }
    for (const auto& f : c.fields)
      for (const auto& name : sql::indexNamesFor(c, f.name)) {
        bool keep = false;
        for (const auto& want : wanted) keep = keep || want.name == name;
        if (!keep && !step("DROP INDEX IF EXISTS " + sql::quote(name))) return fail("cannot drop the index " + name + ": ");
      }
    return true;
  }

  bool ensureIndex(const sql::IndexSpec& want) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_.db(), "SELECT sql FROM sqlite_master WHERE type='index' AND name=?", -1, &st,
                           nullptr) != SQLITE_OK)
      return false;
    sqlite3_bind_text(st, 1, want.name.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    std::string existingSql = rc == SQLITE_ROW && sqlite3_column_text(st, 0)
                                  ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
                                  : std::string();
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return false;
    if (existingSql == want.create) return true;
    return (rc != SQLITE_ROW || step("DROP INDEX " + sql::quote(want.name))) && step(want.create);
  }

  SqliteConnection& db_;
};

}  // namespace

bool SqliteStore::migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) {
  destructive = false;
  SqliteConnection& db = *writer_;
  std::lock_guard lock(memoryMutex_);  // nothing else writes before the server starts, but be sure
  auto fail = [&](std::string msg) {
    error = std::move(msg);
    db.exec("ROLLBACK");
    return false;
  };
  if (!db.exec("BEGIN IMMEDIATE")) return fail(std::string("cannot start migration: ") + sqlite3_errmsg(db.db()));
  Migration m(db);
  std::string why;
  if (!sql::migrateSchema(m, config, allowDestructive, destructive, why)) return fail(std::move(why));
  if (!db.exec("COMMIT")) return fail(std::string("cannot commit migration: ") + sqlite3_errmsg(db.db()));
  // The statements' text, built once; read without locks from here on.
  for (const auto& c : config.collections) sql_[c.name] = sql::buildCollectionSql(sql::Dialect::sqlite, c);
  indexedFields_.clear();
  for (const auto& c : config.collections) {
    std::vector<std::string> fields;
    for (const auto& f : c.fields)
      if (f.index && !f.unique) fields.push_back(f.name);
    if (!fields.empty()) indexedFields_.emplace_back(c.name, std::move(fields));
  }
  writeStatistics();
  return true;
}

const sql::CollectionSql& SqliteStore::sqlFor(const CollectionSpec& c) const { return sql_.at(c.name); }

}  // namespace restd::store
