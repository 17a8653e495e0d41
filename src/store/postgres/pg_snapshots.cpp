#include "store/postgres/pg_support.h"

#include "store/sql/account_txn.h"
#include "store/sql/record_codec.h"

namespace restd::store {

using namespace pg;
using sql::Dialect;

// ---------------------------------------------------------------- snapshots

// A pooled connection inside one REPEATABLE READ transaction. Records come
// through a server-side cursor, a few thousand rows at a time, so a
// collection of any size is read in bounded memory.
class PgSnapshot final : public ReadSnapshot {
 public:
  PgSnapshot(PgConnection& conn, const std::unordered_map<std::string, sql::CollectionSql>& sql)
      : conn_(conn), sql_(sql) {}
  Status count(const CollectionSpec& c, int64_t& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(sql_.at(c.name).countAll, PgParams{}, r)) return e;
    out = toInt64(PQgetvalue(r.res, 0, 0));
    return {};
  }
  Status records(const CollectionSpec& c, const std::function<bool(Record&)>& each) override {
    std::string declare = "DECLARE restd_snapshot NO SCROLL CURSOR FOR " + sql_.at(c.name).select + " ORDER BY \"id\"";
    if (auto e = conn_.exec(declare.c_str())) return e;
    Status result;
    for (bool more = true; more && !result;) {
      PgResult r;
      if ((result = conn_.runOnce("FETCH 2000 FROM restd_snapshot", PgParams{}, r))) break;
      int n = r.rows();
      more = n == 2000;
      for (int i = 0; i < n; ++i) {
        Record rec;
        PgRow row{r.res, i, {}};
        sql::readRecord(c, row, rec);
        if (!each(rec)) {
          more = false;
          break;
        }
      }
    }
    Status closed = conn_.exec("CLOSE restd_snapshot");
    return result ? result : closed;
  }
  Status users(std::vector<User>& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(std::string(sql::AccountTxn::kAllUsersSql), PgParams{}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) {
      out.emplace_back();
      readUser(r.res, i, out.back());
    }
    return {};
  }
  Status apiKeys(std::vector<std::pair<ApiKey, std::string>>& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(std::string(sql::AccountTxn::kAllApiKeysSql), PgParams{}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) {
      PgRow row{r.res, i, {}};
      out.push_back(sql::AccountTxn::apiKeyFromRow(row));
    }
    return {};
  }
  Status tokens(const std::function<void(const StoredToken&)>& each) override {
    PgResult r;
    if (auto e = conn_.runOnce(std::string(sql::AccountTxn::kAllTokensSql), PgParams{}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) {
      PgRow row{r.res, i, {}};
      each(sql::AccountTxn::tokenFromRow(row));
    }
    return {};
  }

 private:
  PgConnection& conn_;
  const std::unordered_map<std::string, sql::CollectionSql>& sql_;
};

Status PgStore::readSnapshot(const std::function<Status(ReadSnapshot&)>& fn) {
  // Not withConnection(): `fn` has output (an export file) that a retry
  // would repeat. A lost connection is one error.
  std::string error;
  auto c = acquire(error);
  if (!c) return Status{StatusCode::unavailable, {}, error};
  Status e = c->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!e) {
    PgSnapshot snap(*c, sql_);
    e = fn(snap);
    Status ended = c->exec(e ? "ROLLBACK" : "COMMIT");
    if (!e) e = ended;
  }
  release(std::move(c));
  return e;
}

}  // namespace restd::store
