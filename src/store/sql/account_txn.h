// The write-transaction operations on users, API keys and tokens, written
// once for both engines: the SQL is the same but for parameter markers
// (PostgreSQL folds the unquoted mixed-case names to the lower-case columns
// it created; SQLite ignores case). An engine's WriteTxn derives from this
// and supplies how one statement runs.
#pragma once

#include <string>
#include <vector>

#include "store/sql/sql_builder.h"
#include "store/store.h"

namespace restd::store::sql {

class AccountTxn : public WriteTxn {
 public:
  explicit AccountTxn(Dialect d);
  Status addUser(const User& u) override;
  Status removeUser(std::string_view userName) override;
  Status setPassword(std::string_view userName, std::string_view hash) override;
  Status addApiKey(const ApiKey& k, std::string_view keyHash) override;
  Status revokeApiKey(std::string_view label) override;
  Status addToken(std::string_view tokenHash, std::string_view userId, std::string_view apiKeyLabel,
                 int64_t expiresAt) override;
  Status revokeToken(std::string_view tokenHash) override;
  Status addLoginFailure(std::string_view key, int64_t atMs, int64_t forgetBefore) override;
  Status clearLoginFailures(std::string_view key) override;
  Status putSetting(std::string_view key, const std::optional<std::string>& value) override;
  // Keeps a reply for its Idempotency-Key for a day (older ones are purged).
  Status putStoredReply(std::string_view userId, std::string_view key, const StoredReply& r) override;
  Status appendEvent(StoredEvent e) override;
  Status pruneEvents(int64_t beforeMs) override;

  // Writes the events appended so far, in order, in multi-row statements
  // (a 1000-record batch: ten statements, not a thousand). The writer moves
  // the events of each job that keeps its changes into one transaction-wide
  // Txn (takeEvents / addEvents) and flushes them once, before the commit:
  // a group of 64 single POSTs adds one statement, not 64 round trips.
  Status flushEvents();
  bool hasEvents() const { return !pendingEvents_.empty(); }
  std::vector<StoredEvent> takeEvents() { return std::move(pendingEvents_); }
  void addEvents(std::vector<StoredEvent>&& events) {
    for (auto& e : events) pendingEvents_.push_back(std::move(e));
  }

  // True once this job removed a user, changed a password or revoked a key
  // or token: cached token owners may be stale after its commit.
  bool revokedAccess() const { return revokedAccess_; }

  // The statement that reads one key's failures: ?1 key, ?2 since.
  static const std::string& loginFailuresSql(Dialect d);
  // The statement that reads one setting: ?1 key.
  static const std::string& settingSql(Dialect d);
  // Events after ?1, at most ?2: seq, collection, kind, recordId, owner, data, at.
  static const std::string& eventsSql(Dialect d);
  // min(seq), max(seq) of the log (NULLs when empty). Two subqueries: SQLite
  // reads one end of the b-tree for a lone min() or max(), but scans the
  // whole table for both in one SELECT.
  static constexpr std::string_view kEventBoundsSql =
      "SELECT (SELECT min(seq) FROM _restd_events), (SELECT max(seq) FROM _restd_events)";
  // What a backup copies of the accounts (ReadSnapshot), in a stable order.
  static constexpr std::string_view kAllUsersSql =
      "SELECT id, userName, role, passwordHash, createdAt FROM _restd_users ORDER BY id";
  static constexpr std::string_view kAllApiKeysSql =
      "SELECT label, keyHash, prefix, createdAt FROM _restd_apikeys ORDER BY label";
  static constexpr std::string_view kAllTokensSql =
      "SELECT tokenHash, userId, apiKeyLabel, expiresAt FROM _restd_tokens ORDER BY tokenHash";
  // One row of kAllUsersSql (also the column order of every user query),
  // kAllApiKeysSql and kAllTokensSql, over an engine's Row (record_codec.h).
  template <typename Row>
  static User userFromRow(Row& row) {
    return User{std::string(row.text(0)), std::string(row.text(1)), std::string(row.text(2)),
                std::string(row.text(3)), row.integer(4)};
  }
  template <typename Row>
  static std::pair<ApiKey, std::string> apiKeyFromRow(Row& row) {
    ApiKey k{std::string(row.text(0)), std::string(row.text(2)), row.integer(3)};
    return {std::move(k), std::string(row.text(1))};
  }
  template <typename Row>
  static StoredToken tokenFromRow(Row& row) {
    return StoredToken{std::string(row.text(0)), std::string(row.text(1)), std::string(row.text(2)), row.integer(3)};
  }
  // The settings table, the same on both engines.
  static constexpr std::string_view kSettingsTableSql =
      "CREATE TABLE IF NOT EXISTS _restd_settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);";

 protected:
  // For nested(): events appended after `mark` are dropped with its changes.
  size_t eventMark() const { return pendingEvents_.size(); }
  void dropEventsAfter(size_t mark) { pendingEvents_.resize(mark); }

  // Runs one statement; notFound when `mustChange` and no row changed.
  virtual Status execute(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange) = 0;


 public:
  struct Statements;  // the SQL text, built once per dialect

 private:
  const Statements& sql_;
  Dialect dialect_;
  bool revokedAccess_ = false;
  std::vector<StoredEvent> pendingEvents_;  // appendEvent() until flushEvents()
};

}  // namespace restd::store::sql
