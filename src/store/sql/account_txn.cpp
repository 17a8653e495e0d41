#include "store/sql/account_txn.h"

#include "common/time.h"

namespace restd::store::sql {

namespace {

// `?n` markers in the dialect's form.
std::string markers(Dialect d, std::string text) {
  if (d == Dialect::sqlite) return text;
  for (char& c : text)
    if (c == '?') c = '$';
  return text;
}

}  // namespace

struct AccountTxn::Statements {
  std::string addUser, removeUserTokens, removeUser, setPassword, addApiKey, revokeKeyTokens, revokeApiKey,
      purgeExpiredTokens, addToken, revokeToken, forgetFailures, purgeFailures, addFailure, clearFailures, failures,
      putSetting, removeSetting, setting, appendEvent, pruneEvents, events, purgeStoredReplies, putStoredReply;
  explicit Statements(Dialect d)
      : addUser(markers(d, "INSERT INTO _restd_users (id, userName, role, passwordHash, createdAt) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)")),
        removeUserTokens(markers(d, "DELETE FROM _restd_tokens WHERE userId = (SELECT id FROM _restd_users "
                                    "WHERE userName = ?1)")),
        removeUser(markers(d, "DELETE FROM _restd_users WHERE userName = ?1")),
        setPassword(markers(d, "UPDATE _restd_users SET passwordHash = ?1 WHERE userName = ?2")),
        addApiKey(markers(d, "INSERT INTO _restd_apikeys (label, keyHash, prefix, createdAt) VALUES (?1, ?2, ?3, ?4)")),
        revokeKeyTokens(markers(d, "DELETE FROM _restd_tokens WHERE apiKeyLabel = ?1")),
        revokeApiKey(markers(d, "DELETE FROM _restd_apikeys WHERE label = ?1")),
        // Expired tokens of the user go while we are here, so the table stays small.
        purgeExpiredTokens(markers(d, "DELETE FROM _restd_tokens WHERE userId = ?1 AND expiresAt <= ?2")),
        addToken(markers(d, "INSERT INTO _restd_tokens (tokenHash, userId, apiKeyLabel, expiresAt) "
                            "VALUES (?1, ?2, ?3, ?4)")),
        revokeToken(markers(d, "DELETE FROM _restd_tokens WHERE tokenHash = ?1")),
        forgetFailures(markers(d, "DELETE FROM _restd_login_failures WHERE key = ?1 AND at < ?2")),
        // Anyone's old failures, a bounded number per write through the time
        // index: addresses that tried once and went away do not pile up.
        purgeFailures(markers(d, "DELETE FROM _restd_login_failures WHERE id IN (SELECT id FROM "
                                 "_restd_login_failures WHERE at < ?1 ORDER BY at LIMIT 64)")),
        addFailure(markers(d, "INSERT INTO _restd_login_failures (key, at) VALUES (?1, ?2)")),
        clearFailures(markers(d, "DELETE FROM _restd_login_failures WHERE key = ?1")),
        failures(markers(d, "SELECT at FROM _restd_login_failures WHERE key = ?1 AND at >= ?2 ORDER BY at")),
        putSetting(markers(d, "INSERT INTO _restd_settings (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value")),
        removeSetting(markers(d, "DELETE FROM _restd_settings WHERE key = ?1")),
        setting(markers(d, "SELECT value FROM _restd_settings WHERE key = ?1")),
        appendEvent(markers(d, "INSERT INTO _restd_events (collection, kind, recordId, owner, data, at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")),
        // Everything before the first event young enough to keep (or, when
        // all are old, before the newest): it reads only the rows it deletes,
        // from the start of the log, so the log needs no index on `at`.
        pruneEvents(markers(d, "DELETE FROM _restd_events WHERE seq < COALESCE((SELECT seq FROM _restd_events "
                               "WHERE at >= ?1 ORDER BY seq LIMIT 1), (SELECT max(seq) FROM _restd_events))")),
        events(markers(d, "SELECT seq, collection, kind, recordId, owner, data, at FROM _restd_events "
                          "WHERE seq > ?1 ORDER BY seq LIMIT ?2")),
        // Replies older than ?1 go while we are here, a bounded number per
        // write through the age index: the purge never scans live keys, so
        // keyed writes cost the same at 7,000 stored keys as at none.
        purgeStoredReplies(markers(d, "DELETE FROM _restd_idempotency WHERE (userId, key) IN (SELECT userId, key "
                                      "FROM _restd_idempotency WHERE createdAt < ?1 LIMIT 64)")),
        putStoredReply(markers(d, "INSERT INTO _restd_idempotency (userId, key, requestHash, status, contentType, "
                                  "headers, body, createdAt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                                  "ON CONFLICT (userId, key) DO UPDATE SET requestHash = excluded.requestHash, "
                                  "status = excluded.status, contentType = excluded.contentType, "
                                  "headers = excluded.headers, body = excluded.body, createdAt = excluded.createdAt")) {}
};

namespace {

const AccountTxn::Statements& statementsFor(Dialect d) {
  static const AccountTxn::Statements sqlite(Dialect::sqlite), postgres(Dialect::postgres);
  return d == Dialect::sqlite ? sqlite : postgres;
}

}  // namespace

AccountTxn::AccountTxn(Dialect d) : sql_(statementsFor(d)), dialect_(d) {}

Status AccountTxn::addUser(const User& u) {
  return execute(sql_.addUser, {u.id, u.userName, u.role, u.passwordHash, u.createdAt}, false);
}

Status AccountTxn::removeUser(std::string_view userName) {
  revokedAccess_ = true;
  if (auto e = execute(sql_.removeUserTokens, {std::string(userName)}, false)) return e;
  return execute(sql_.removeUser, {std::string(userName)}, true);
}

Status AccountTxn::setPassword(std::string_view userName, std::string_view hash) {
  revokedAccess_ = true;
  if (auto e = execute(sql_.setPassword, {std::string(hash), std::string(userName)}, true)) return e;
  return execute(sql_.removeUserTokens, {std::string(userName)}, false);  // a new password ends every session
}

Status AccountTxn::addApiKey(const ApiKey& k, std::string_view keyHash) {
  Status e = execute(sql_.addApiKey, {k.label, std::string(keyHash), k.prefix, k.createdAt}, false);
  if (e.code == StatusCode::uniqueViolation && e.field == "keyHash") e.field = "key";
  return e;
}

Status AccountTxn::revokeApiKey(std::string_view label) {
  revokedAccess_ = true;
  if (auto e = execute(sql_.revokeKeyTokens, {std::string(label)}, false)) return e;
  return execute(sql_.revokeApiKey, {std::string(label)}, true);
}

Status AccountTxn::addToken(std::string_view tokenHash, std::string_view userId, std::string_view apiKeyLabel,
                           int64_t expiresAt) {
  if (auto e = execute(sql_.purgeExpiredTokens, {std::string(userId), nowMillis()}, false)) return e;
  return execute(sql_.addToken, {std::string(tokenHash), std::string(userId), std::string(apiKeyLabel), expiresAt},
                 false);
}

Status AccountTxn::revokeToken(std::string_view tokenHash) {
  revokedAccess_ = true;
  return execute(sql_.revokeToken, {std::string(tokenHash)}, false);
}

Status AccountTxn::addLoginFailure(std::string_view key, int64_t atMs, int64_t forgetBefore) {
  if (auto e = execute(sql_.forgetFailures, {std::string(key), forgetBefore}, false)) return e;
  if (auto e = execute(sql_.purgeFailures, {forgetBefore}, false)) return e;
  return execute(sql_.addFailure, {std::string(key), atMs}, false);
}

Status AccountTxn::clearLoginFailures(std::string_view key) {
  return execute(sql_.clearFailures, {std::string(key)}, false);
}

Status AccountTxn::putStoredReply(std::string_view userId, std::string_view key, const StoredReply& r) {
  if (auto e = execute(sql_.purgeStoredReplies, {r.createdAt - 24 * 3600 * 1000LL}, false)) return e;
  return execute(sql_.putStoredReply,
                 {std::string(userId), std::string(key), r.requestHash, int64_t(r.status), r.contentType, r.headers,
                  r.body, r.createdAt},
                 false);
}

Status AccountTxn::putSetting(std::string_view key, const std::optional<std::string>& value) {
  if (!value) return execute(sql_.removeSetting, {std::string(key)}, false);
  return execute(sql_.putSetting, {std::string(key), *value}, false);
}

Status AccountTxn::appendEvent(StoredEvent e) {
  pendingEvents_.push_back(std::move(e));
  return {};
}

namespace {

// An event's columns, as appendEventsSql names them and flushEvents binds them.
constexpr int kEventColumns = 6;

// "INSERT INTO _restd_events (...) VALUES (?1, …, ?6), (?7, …), …" for `rows` rows.
std::string appendEventsSql(Dialect d, size_t rows) {
  std::string sql = "INSERT INTO _restd_events (collection, kind, recordId, owner, data, at) VALUES ";
  int n = 1;
  for (size_t r = 0; r < rows; ++r) {
    sql += r ? ", (" : "(";
    for (int c = 0; c < kEventColumns; ++c) sql += (c ? ", " : "") + std::string(d == Dialect::sqlite ? "?" : "$") + std::to_string(n++);
    sql += ")";
  }
  return sql;
}

}  // namespace

Status AccountTxn::flushEvents() {
  // Chunks of kChunk rows share one statement text (prepared once); the
  // rest goes in one shorter statement.
  constexpr size_t kChunk = 100;
  thread_local std::string chunkSql[2];  // per dialect, built on first use
  std::vector<SqlValue> params;
  params.reserve(std::min(kChunk, pendingEvents_.size()) * kEventColumns);
  for (size_t start = 0; start < pendingEvents_.size();) {
    size_t rows = std::min(kChunk, pendingEvents_.size() - start);
    params.clear();
    // Moved: the events are written once, and forgotten after (a failure
    // rolls the whole transaction back, and its events with it).
    for (size_t i = start; i < start + rows; ++i) {
      StoredEvent& e = pendingEvents_[i];
      params.emplace_back(std::move(e.collection));
      params.emplace_back(std::move(e.kind));
      params.emplace_back(std::move(e.recordId));
      params.emplace_back(std::move(e.owner));
      params.emplace_back(std::move(e.data));
      params.emplace_back(e.at);
    }
    std::string& full = chunkSql[dialect_ == Dialect::sqlite ? 0 : 1];
    if (full.empty()) full = appendEventsSql(dialect_, kChunk);
    Status err = rows == kChunk ? execute(full, params, false)
                               : rows == 1 ? execute(sql_.appendEvent, params, false)
                                           : execute(appendEventsSql(dialect_, rows), params, false);
    if (err) return err;
    start += rows;
  }
  pendingEvents_.clear();
  return {};
}

Status AccountTxn::pruneEvents(int64_t beforeMs) { return execute(sql_.pruneEvents, {beforeMs}, false); }

const std::string& AccountTxn::eventsSql(Dialect d) { return statementsFor(d).events; }
const std::string& AccountTxn::loginFailuresSql(Dialect d) { return statementsFor(d).failures; }
const std::string& AccountTxn::settingSql(Dialect d) { return statementsFor(d).setting; }

}  // namespace restd::store::sql
