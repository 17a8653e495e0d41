// The PostgreSQL schema: system tables, and each collection's table,
// columns and indexes brought to what the configuration says
// (Store::migrate), one node at a time.
#include "store/postgres/pg_support.h"

#include "store/sql/account_txn.h"
#include "store/sql/record_codec.h"
#include "store/sql/schema_plan.h"

namespace restd::store {

using namespace pg;
using sql::Dialect;

namespace {

// Held by every migration: nodes starting together on an empty database
// migrate one after the other, and the later ones find nothing to do.
constexpr int64_t kMigrationLock = 0x7265737464000001;  // "restd" 1

// System tables. Column names are unquoted (PostgreSQL folds them to lower
// case); constraints are named "<table>__unique_<field>" so a unique
// violation names its field.
constexpr const char* kSystemTablesSql =
      "CREATE TABLE IF NOT EXISTS _restd_schema (collection TEXT NOT NULL, field TEXT NOT NULL, type TEXT NOT NULL, "
      "PRIMARY KEY (collection, field));"
      "CREATE TABLE IF NOT EXISTS _restd_indexes (name TEXT PRIMARY KEY, definition TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS _restd_users (id TEXT COLLATE \"C\" NOT NULL, username TEXT COLLATE \"C\" NOT NULL, "
      "role TEXT NOT NULL, passwordhash TEXT NOT NULL, createdat BIGINT NOT NULL, "
      "CONSTRAINT \"_restd_users__unique_id\" PRIMARY KEY (id), "
      "CONSTRAINT \"_restd_users__unique_userName\" UNIQUE (username));"
      "CREATE TABLE IF NOT EXISTS _restd_apikeys (label TEXT COLLATE \"C\" NOT NULL, keyhash TEXT NOT NULL, "
      "prefix TEXT NOT NULL, createdat BIGINT NOT NULL, CONSTRAINT \"_restd_apikeys__unique_label\" PRIMARY KEY (label), "
      "CONSTRAINT \"_restd_apikeys__unique_keyHash\" UNIQUE (keyhash));"
      "CREATE TABLE IF NOT EXISTS _restd_tokens (tokenhash TEXT PRIMARY KEY, userid TEXT NOT NULL, "
      "apikeylabel TEXT NOT NULL, expiresat BIGINT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS _restd_tokens_by_key ON _restd_tokens (apikeylabel);"
      "CREATE INDEX IF NOT EXISTS _restd_tokens_by_user ON _restd_tokens (userid);"
      "CREATE TABLE IF NOT EXISTS _restd_idempotency (userid TEXT NOT NULL, key TEXT NOT NULL, "
      "requesthash TEXT NOT NULL, status INTEGER NOT NULL, contenttype TEXT NOT NULL, headers TEXT NOT NULL, "
      "body TEXT NOT NULL, createdat BIGINT NOT NULL, PRIMARY KEY (userid, key));"
      "CREATE INDEX IF NOT EXISTS _restd_idempotency_by_age ON _restd_idempotency (createdat);"
      "CREATE TABLE IF NOT EXISTS _restd_login_failures (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
      "key TEXT NOT NULL, at BIGINT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_key ON _restd_login_failures (key, at);"
      "CREATE INDEX IF NOT EXISTS _restd_login_failures_by_time ON _restd_login_failures (at);"
      // Every node caches token owners (findToken); any change to a token
      // or a user, through restd or straight in SQL, tells them all.
      "CREATE OR REPLACE FUNCTION _restd_notify_auth() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM pg_notify('restd_auth', ''); RETURN NULL; END $$;"
      "CREATE OR REPLACE TRIGGER _restd_tokens_changed AFTER UPDATE OR DELETE ON _restd_tokens "
      "FOR EACH ROW EXECUTE FUNCTION _restd_notify_auth();"
      "CREATE OR REPLACE TRIGGER _restd_tokens_truncated AFTER TRUNCATE ON _restd_tokens "
      "FOR EACH STATEMENT EXECUTE FUNCTION _restd_notify_auth();"
      "CREATE OR REPLACE TRIGGER _restd_users_changed AFTER UPDATE OR DELETE ON _restd_users "
      "FOR EACH ROW EXECUTE FUNCTION _restd_notify_auth();"
      "CREATE OR REPLACE TRIGGER _restd_users_truncated AFTER TRUNCATE ON _restd_users "
      "FOR EACH STATEMENT EXECUTE FUNCTION _restd_notify_auth();"
      // The change feed's log; every commit that adds events wakes the
      // other nodes' feeds.
      "CREATE TABLE IF NOT EXISTS _restd_events (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
      "collection TEXT NOT NULL, kind TEXT NOT NULL, recordid TEXT NOT NULL, owner TEXT NOT NULL, "
      "data TEXT NOT NULL, at BIGINT NOT NULL);"
      "CREATE OR REPLACE FUNCTION _restd_notify_events() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM pg_notify('restd_events', ''); RETURN NULL; END $$;"
      "CREATE OR REPLACE TRIGGER _restd_events_added AFTER INSERT ON _restd_events "
      "FOR EACH STATEMENT EXECUTE FUNCTION _restd_notify_events();"
      // Rate-limit buckets need no durability: after a crash they start full.
      "CREATE UNLOGGED TABLE IF NOT EXISTS _restd_rate_buckets (key TEXT PRIMARY KEY, "
      "tokens DOUBLE PRECISION NOT NULL, stamp DOUBLE PRECISION NOT NULL, granted BIGINT NOT NULL);";

// One migration, inside the writer's transaction under kMigrationLock.
// Each step returns false with `error` set; the caller rolls back.
class Migration final : public sql::SchemaSteps {
 public:
  explicit Migration(PgConnection& db) : db_(db) {}

  bool createSystemTables() override {
    if (auto e = db_.exec(kSystemTablesSql)) return fail("cannot create the system tables: ", e);
    if (auto e = db_.exec(std::string(sql::AccountTxn::kSettingsTableSql).c_str()))
      return fail("cannot create _restd_settings: ", e);
    return true;
  }

  bool readTable(const CollectionSpec& c, bool& exists, sql::RecordedFields& recorded) override {
    PgResult r;
    if (auto e = db_.run("SELECT to_regclass($1) IS NOT NULL", {sql::quote(c.name)}, r))
      return fail("cannot read the schema: ", e);
    exists = std::string_view(PQgetvalue(r.res, 0, 0)) == "t";
    if (!exists) return true;
    if (auto e = db_.run("SELECT field, type FROM _restd_schema WHERE collection = $1", {c.name}, r))
      return fail("cannot read _restd_schema: ", e);
    for (int i = 0; i < r.rows(); ++i) recorded.emplace_back(textAt(r.res, i, 0), textAt(r.res, i, 1));
    return true;
  }

  bool createTable(const CollectionSpec& c) override {
    if (auto e = step(sql::createTableSql(Dialect::postgres, c))) return fail("cannot create table " + c.name + ": ", e);
    if (auto e = step("DELETE FROM _restd_schema WHERE collection = $1", {c.name})) return fail("cannot reset schema: ", e);
    return true;
  }

 private:
  bool fail(const std::string& what, const Status& e) {
    error = what + e.detail;
    return false;
  }

  // Run once each: not kept among the connection's prepared statements.
  Status step(const std::string& sqlText, const std::vector<SqlValue>& params = {}) {
    PgParams p;
    for (const auto& v : params) p.add(v);
    PgResult r;
    return db_.runOnce(sqlText, p, r);
  }

  bool dropColumn(const CollectionSpec& c, const std::string& name) override {
    for (const auto& index : sql::indexNamesFor(c, name)) {
      if (auto e = step("DROP INDEX IF EXISTS " + sql::quote(index))) return fail("cannot drop " + index + ": ", e);
      if (auto e = step("DELETE FROM _restd_indexes WHERE name = $1", {index})) return fail("cannot record the indexes: ", e);
    }
    if (auto e = step("ALTER TABLE " + sql::quote(c.name) + " DROP COLUMN " + sql::quote(name)))
      return fail("cannot drop " + c.name + "." + name + ": ", e);
    if (auto e = step("DELETE FROM _restd_schema WHERE collection = $1 AND field = $2", {c.name, name}))
      return fail("cannot record schema: ", e);
    return true;
  }

  bool addColumn(const CollectionSpec& c, const FieldSpec& f, bool tableExists) override {
    if (tableExists)
      if (auto e = step("ALTER TABLE " + sql::quote(c.name) + " ADD COLUMN " + sql::quote(f.name) + " " +
                        std::string(sql::columnType(Dialect::postgres, f.type))))
        return fail("cannot add " + c.name + "." + f.name + ": ", e);
    if (auto e = step("INSERT INTO _restd_schema (collection, field, type) VALUES ($1, $2, $3) "
                      "ON CONFLICT (collection, field) DO UPDATE SET type = EXCLUDED.type",
                      {c.name, f.name, std::string(fieldTypeName(f.type))}))
      return fail("cannot record schema: ", e);
    if (!tableExists || !f.defaultJson) return true;
    // Existing records get the field's default, bound like any other value.
    rapidjson::Document d;
    d.Parse(f.defaultJson->data(), f.defaultJson->size());
    PgParams p;
    std::vector<std::string> scratch;
    sql::bindField(p, 1, f, d, scratch);
    PgResult res;
    if (auto e = db_.run("UPDATE " + sql::quote(c.name) + " SET " + sql::quote(f.name) + " = $1", p, res))
      return fail("cannot fill " + c.name + "." + f.name + ": ", e);
    return true;
  }

  // The indexes follow the config (store/sql/schema_plan.h); what each was
  // made with is kept in _restd_indexes, so a changed definition is rebuilt.
  bool syncIndexes(const CollectionSpec& c) override {
    std::vector<sql::IndexSpec> wanted = sql::wantedIndexes(c, sql::Dialect::postgres);
    for (const auto& want : wanted) {
      PgResult have;
      if (auto e = db_.run("SELECT i.definition FROM _restd_indexes i WHERE i.name = $1 AND to_regclass($2) IS NOT NULL",
                           {want.name, sql::quote(want.name)}, have))
        return fail("cannot read the indexes: ", e);
      if (have.rows() == 1 && textAt(have.res, 0, 0) == want.create) continue;
      Status e = step("DROP INDEX IF EXISTS " + sql::quote(want.name));
      if (!e) e = step(want.create);
      if (e) {
        if (!want.unique || want.field == "slug") return fail("cannot index " + c.name + "." + want.field + ": ", e);
        error = "cannot make " + c.name + "." + want.field + " unique" +
                (c.visibility == Visibility::owner ? " per owner" : "") + ": existing records share values (" +
                e.detail + ")";
        return false;
      }
      if (auto e2 = step("INSERT INTO _restd_indexes (name, definition) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
                         "SET definition = EXCLUDED.definition",
                         {want.name, want.create}))
        return fail("cannot record the indexes: ", e2);
    }
    for (const auto& f : c.fields)
      for (const auto& name : sql::indexNamesFor(c, f.name)) {
        bool keep = false;
        for (const auto& want : wanted) keep = keep || want.name == name;
        if (keep) continue;
        if (auto e = step("DROP INDEX IF EXISTS " + sql::quote(name))) return fail("cannot drop the index " + name + ": ", e);
        if (auto e = step("DELETE FROM _restd_indexes WHERE name = $1", {name}))
          return fail("cannot record the indexes: ", e);
      }
    return true;
  }

  PgConnection& db_;
};

}  // namespace

bool PgStore::migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) {
  destructive = false;
  std::lock_guard lock(writerMutex_);  // nothing else writes before the server starts, but be sure
  PgConnection& db = *writer_;
  auto fail = [&](std::string msg) {
    error = std::move(msg);
    (void)db.exec("ROLLBACK");  // the migration failed already: this only ends it
    return false;
  };
  if (auto e = db.exec("BEGIN")) return fail("cannot start migration: " + e.detail);
  {
    PgParams p;
    p.add(kMigrationLock);
    PgResult r;
    if (auto e = db.runOnce("SELECT pg_advisory_xact_lock($1::bigint)", p, r))
      return fail("cannot take the migration lock: " + e.detail);
  }
  Migration m(db);
  std::string why;
  if (!sql::migrateSchema(m, config, allowDestructive, destructive, why)) return fail(std::move(why));
  if (auto e = db.exec("COMMIT")) return fail("cannot commit migration: " + e.detail);
  for (const auto& c : config.collections) sql_[c.name] = sql::buildCollectionSql(Dialect::postgres, c);
  return true;
}

}  // namespace restd::store
