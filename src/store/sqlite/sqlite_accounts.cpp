// Users, API keys, tokens, login failures, events and settings, read
// through the reader pool.
#include "store/sqlite/sqlite_detail.h"

#include "store/sql/account_txn.h"

namespace restd::store {

using namespace sqlite;

// Users and API keys are read fresh: the CLI adds them from another process,
// and a key made a moment ago must work at once.
Status SqliteStore::findUser(std::string_view userName, User& out) {
  bool found = false;
  Status e = withReader([&](SqliteConnection& c) {
    return query(c, "SELECT id, userName, role, passwordHash, createdAt FROM _restd_users WHERE userName = ?",
                 {std::string(userName)}, [&](sqlite3_stmt* st) {
                   readUser(st, out);
                   found = true;
                 });
  }, /*fresh=*/true);
  if (!e && !found) e.code = StatusCode::notFound;
  return e;
}

Status SqliteStore::listUsers(std::vector<User>& out) {
  return withReader([&](SqliteConnection& c) {
    return query(c, "SELECT id, userName, role, passwordHash, createdAt FROM _restd_users ORDER BY userName", {},
                 [&](sqlite3_stmt* st) {
                   out.emplace_back();
                   readUser(st, out.back());
                 });
  }, /*fresh=*/true);
}

Status SqliteStore::findApiKey(std::string_view keyHash, ApiKey& out) {
  bool found = false;
  Status e = withReader([&](SqliteConnection& c) {
    return query(c, "SELECT label, prefix, createdAt FROM _restd_apikeys WHERE keyHash = ?", {std::string(keyHash)},
                 [&](sqlite3_stmt* st) {
                   out.label = columnText(st, 0);
                   out.prefix = columnText(st, 1);
                   out.createdAt = sqlite3_column_int64(st, 2);
                   found = true;
                 });
  }, /*fresh=*/true);
  if (!e && !found) e.code = StatusCode::notFound;
  return e;
}

Status SqliteStore::listApiKeys(std::vector<ApiKey>& out) {
  return withReader([&](SqliteConnection& c) {
    return query(c, "SELECT label, prefix, createdAt FROM _restd_apikeys ORDER BY createdAt, label", {},
                 [&](sqlite3_stmt* st) {
                   out.push_back(ApiKey{columnText(st, 0), columnText(st, 1), sqlite3_column_int64(st, 2)});
                 });
  }, /*fresh=*/true);
}

Status SqliteStore::findToken(std::string_view tokenHash, int64_t now, TokenOwner& out) {
  bool found = false;
  Status e = withReader([&](SqliteConnection& c) {
    // While the database is unchanged (same data_version), the answer is too:
    // skip the query. Expiry is checked against the clock every time.
    int64_t version = path_.empty() ? -1 : c.dataVersion();  // see list(): no cache in memory mode
    if (const TokenOwner* cached = c.cachedToken(tokenHash, version); cached && cached->expiresAt > now) {
      out = *cached;
      found = true;
      return Status{};
    }
    Status qe = query(c,
                 "SELECT u.id, u.userName, u.role, t.apiKeyLabel, t.expiresAt FROM _restd_tokens t "
                 "JOIN _restd_users u ON u.id = t.userId WHERE t.tokenHash = ? AND t.expiresAt > ?",
                 {std::string(tokenHash), now}, [&](sqlite3_stmt* st) {
                   out.userId = columnText(st, 0);
                   out.userName = columnText(st, 1);
                   out.role = columnText(st, 2);
                   out.apiKeyLabel = columnText(st, 3);
                   out.expiresAt = sqlite3_column_int64(st, 4);
                   found = true;
                 });
    if (!qe && found) c.rememberToken(tokenHash, version, out);
    return qe;
  });
  if (!e && !found) e.code = StatusCode::notFound;
  return e;
}

Status SqliteStore::loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) {
  out.clear();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::loginFailuresSql(sql::Dialect::sqlite), {std::string(key), sinceMs},
                 [&](sqlite3_stmt* st) { out.push_back(sqlite3_column_int64(st, 0)); });
  }, /*fresh=*/true);
}

Status SqliteStore::readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) {
  out.clear();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::eventsSql(sql::Dialect::sqlite), {after, limit}, [&](sqlite3_stmt* st) {
      out.push_back(StoredEvent{sqlite3_column_int64(st, 0), columnText(st, 1), columnText(st, 2), columnText(st, 3),
                                columnText(st, 4), columnText(st, 5), sqlite3_column_int64(st, 6)});
    });
  }, /*fresh=*/true);
}

Status SqliteStore::eventBounds(int64_t& oldest, int64_t& newest) {
  oldest = newest = 0;
  return withReader([&](SqliteConnection& c) {
    return query(c, std::string(sql::AccountTxn::kEventBoundsSql), {}, [&](sqlite3_stmt* st) {
      oldest = sqlite3_column_int64(st, 0);  // NULL reads as 0
      newest = sqlite3_column_int64(st, 1);
    });
  }, /*fresh=*/true);
}

Status SqliteStore::readSetting(std::string_view key, std::optional<std::string>& out) {
  out.reset();
  return withReader([&](SqliteConnection& c) {
    return query(c, sql::AccountTxn::settingSql(sql::Dialect::sqlite), {std::string(key)}, [&](sqlite3_stmt* st) {
      out = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                        static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    });
  }, /*fresh=*/true);
}

}  // namespace restd::store
