// The PostgreSQL writer: one thread, jobs grouped into shared transactions
// (group commit), each job in its own SAVEPOINT (store/store.h).
#include "store/postgres/pg_support.h"

#include <cstdio>
#include <unordered_set>

#include "common/time.h"
#include "store/sql/account_txn.h"
#include "store/sql/record_codec.h"

namespace restd::store {

using namespace pg;
using sql::Dialect;

// ---------------------------------------------------------------- writes

class PgStore::Txn final : public sql::AccountTxn {
 public:
  Txn(const PgStore& store, PgConnection& conn) : AccountTxn(Dialect::postgres), store_(store), conn_(conn) {}

  // Locks the row until the group commits: a concurrent write on another
  // node waits for this one and then reads its result, so no update is lost.
  Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) override {
    return getRecord(conn_, store_.sqlFor(c).getForUpdate, c, idOrSlug, {}, out);
  }
  Status insert(const CollectionSpec& c, const Record& r) override {
    PgResult res;
    if (auto e = write(store_.sqlFor(c).insert, c, r, res)) return e;
    if (std::string_view(PQcmdTuples(res.res)) == "0") return takenField(c, r);
    return {};
  }
  // Many records in few statements: multi-row INSERTs that skip rows with a
  // taken unique value (ON CONFLICT DO NOTHING) and return the ids they
  // inserted; a row not returned had a taken value, named by takenField().
  // Rows go in order, so of two equal values in one batch the first wins,
  // as one insert() per record would have it.
  void insertMany(const CollectionSpec& c, const std::vector<const Record*>& records,
                  std::vector<Status>& errors) override {
    errors.assign(records.size(), Status{});
    const size_t columns = sql::recordColumns(c).size();
    const size_t perStatement = std::max<size_t>(1, 30000 / columns);  // libpq's limit is 65,535 parameters
    thread_local std::vector<std::string> scratch;
    for (size_t start = 0; start < records.size(); start += perStatement) {
      size_t n = std::min(perStatement, records.size() - start);
      PgParams p;
      for (size_t i = 0; i < n; ++i) {
        OffsetBinder b{p, static_cast<int>(i * columns)};
        sql::bindRecord(b, c, *records[start + i], scratch);
      }
      PgResult res;
      Status e = conn_.runOnce(bulkInsertSql(c, n, columns), p, res);
      if (e) {
        for (size_t i = 0; i < n; ++i) errors[start + i] = e;
        continue;
      }
      std::unordered_set<std::string_view> inserted;
      for (int row = 0; row < res.rows(); ++row)
        inserted.emplace(PQgetvalue(res.res, row, 0), static_cast<size_t>(PQgetlength(res.res, row, 0)));
      // An id given twice (an import) was inserted once, for its first
      // record: erase() lets only that one claim it.
      for (size_t i = 0; i < n; ++i)
        if (!inserted.erase(records[start + i]->id)) errors[start + i] = takenField(c, *records[start + i]);
    }
  }
  Status nested(const std::function<bool()>& fn) override {
    if (auto e = conn_.exec("SAVEPOINT nested")) return e;
    size_t mark = eventMark();
    bool kept = fn();
    if (!kept) dropEventsAfter(mark);
    return conn_.exec(kept ? "RELEASE nested" : "ROLLBACK TO nested; RELEASE nested");
  }
  // In a savepoint of its own: a unique violation must not abort the
  // transaction that the job's other changes (a batch's items) share.
  Status update(const CollectionSpec& c, const Record& r) override {
    if (auto e = conn_.exec("SAVEPOINT one")) return e;
    PgResult res;
    Status e = write(store_.sqlFor(c).update, c, r, res);
    if (auto e2 = conn_.exec(e ? "ROLLBACK TO one; RELEASE one" : "RELEASE one")) return e2;
    if (!e && std::string_view(PQcmdTuples(res.res)) == "0") return Status{StatusCode::notFound, {}, {}};
    return e;
  }
  Status remove(const CollectionSpec& c, std::string_view id) override {
    return exec(store_.sqlFor(c).remove, {std::string(id)}, true);
  }
  Status getStoredReply(std::string_view userId, std::string_view key, int64_t notBefore, StoredReply& out) override {
    // The key is held until this group commits: a request with the same key
    // on another node waits here, then finds this one's reply and replays it.
    if (auto e = exec("SELECT pg_advisory_xact_lock($1::bigint)", {lockKey({"idempotency", userId, key})})) return e;
    PgResult r;
    if (auto e = conn_.run("SELECT requesthash, status, contenttype, headers, body, createdat FROM _restd_idempotency "
                           "WHERE userid = $1 AND key = $2 AND createdat >= $3",
                           {std::string(userId), std::string(key), notBefore}, r))
      return e;
    if (r.rows() == 0) return Status{StatusCode::notFound, {}, {}};
    out.requestHash = textAt(r.res, 0, 0);
    out.status = static_cast<int>(toInt64(PQgetvalue(r.res, 0, 1)));
    out.contentType = textAt(r.res, 0, 2);
    out.headers = textAt(r.res, 0, 3);
    out.body = textAt(r.res, 0, 4);
    out.createdAt = toInt64(PQgetvalue(r.res, 0, 5));
    return {};
  }
  Status slugTaken(const CollectionSpec& c, std::string_view owner, std::string_view slug, bool& taken) override {
    taken = false;
    // Held until the group commits: another node choosing the same slug
    // waits, then sees this one's record and moves on to the next candidate.
    // The collection's lock is shared here and exclusive in a job that
    // reserved every slug of it (reserveSlugs), which needs no lock per
    // candidate; both go in one round trip.
    if (!reservedSlugs_.count(c.name)) {
      std::string_view scope = c.visibility == Visibility::owner ? owner : std::string_view();
      if (auto e = exec("SELECT pg_advisory_xact_lock_shared($1::bigint), pg_advisory_xact_lock($2::bigint)",
                        {lockKey({"slugs", c.name}), lockKey({"slug", c.name, scope, slug})}))
        return e;
    }
    PgParams p;
    p.text(1, slug);
    if (c.visibility == Visibility::owner) p.text(2, owner);
    PgResult r;
    if (auto e = conn_.run(store_.sqlFor(c).slugTaken, p, r)) return e;
    taken = r.rows() > 0;
    return {};
  }
  // With the slugs reserved, one statement for them all: the candidates go
  // as text arrays (slugs and user ids hold no character an array literal
  // must escape, but both are escaped all the same).
  Status slugsTaken(const CollectionSpec& c, const std::vector<std::pair<std::string, std::string>>& candidates,
                   std::vector<bool>& taken) override {
    if (!reservedSlugs_.count(c.name)) return WriteTxn::slugsTaken(c, candidates, taken);
    taken.assign(candidates.size(), false);
    if (candidates.empty()) return {};
    const bool byOwner = c.visibility == Visibility::owner;
    std::string slugs = "{", owners = "{";
    auto append = [](std::string& array, std::string_view v) {
      if (array.size() > 1) array += ',';
      array += '"';
      for (char ch : v) {
        if (ch == '"' || ch == '\\') array += '\\';
        array += ch;
      }
      array += '"';
    };
    for (const auto& [owner, slug] : candidates) {
      append(slugs, slug);
      if (byOwner) append(owners, owner);
    }
    slugs += '}';
    owners += '}';
    std::string q = "SELECT \"slug\"" + std::string(byOwner ? ", \"owner\"" : "") + " FROM " + sql::quote(c.name) +
                    (byOwner ? " WHERE (\"owner\", \"slug\") IN (SELECT * FROM unnest($2::text[], $1::text[]))"
                             : " WHERE \"slug\" = ANY($1::text[])");
    PgParams p;
    p.text(1, slugs);
    if (byOwner) p.text(2, owners);
    PgResult r;
    if (auto e = conn_.run(q, p, r)) return e;
    std::unordered_set<std::string> found;
    for (int i = 0; i < r.rows(); ++i) {
      std::string key = PQgetvalue(r.res, i, 0);
      if (byOwner) key += std::string(1, '\0') + PQgetvalue(r.res, i, 1);
      found.insert(std::move(key));
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      std::string key = candidates[i].second;
      if (byOwner) key += std::string(1, '\0') + candidates[i].first;
      taken[i] = found.count(key) > 0;
    }
    return {};
  }
  // One lock, however many slugs the job then chooses: a lock per candidate
  // would exhaust max_locks_per_transaction after some 30,000 records.
  Status reserveSlugs(const CollectionSpec& c) override {
    if (reservedSlugs_.count(c.name)) return {};
    if (auto e = exec("SELECT pg_advisory_xact_lock($1::bigint)", {lockKey({"slugs", c.name})})) return e;
    reservedSlugs_.insert(c.name);
    return {};
  }

 protected:
  Status execute(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange) override {
    return exec(sqlText, params, mustChange);
  }

 private:
  // A Binder that shifts parameter numbers: row k of a multi-row INSERT.
  struct OffsetBinder {
    PgParams& p;
    int offset;
    void null(int i) { p.null(i + offset); }
    void integer(int i, int64_t v) { p.integer(i + offset, v); }
    void real(int i, double v) { p.real(i + offset, v); }
    void text(int i, std::string_view t) { p.text(i + offset, t); }
  };
  static std::string bulkInsertSql(const CollectionSpec& c, size_t rows, size_t columns) {
    std::string q = "INSERT INTO " + sql::quote(c.name) + " (";
    auto cols = sql::recordColumns(c);
    for (size_t i = 0; i < cols.size(); ++i) q += (i ? "," : "") + sql::quote(cols[i]);
    q += ") VALUES ";
    int n = 0;
    for (size_t r = 0; r < rows; ++r) {
      q += r ? ",(" : "(";
      for (size_t i = 0; i < columns; ++i) q += (i ? ",$" : "$") + std::to_string(++n);
      q += ')';
    }
    return q + " ON CONFLICT DO NOTHING RETURNING \"id\"";
  }
  Status write(const std::string& sqlText, const CollectionSpec& c, const Record& r, PgResult& res) {
    PgParams p;
    thread_local std::vector<std::string> scratch;
    sql::bindRecord(p, c, r, scratch);
    return conn_.run(sqlText, p, res);
  }
  // Which unique value of `r` an insert found taken: the id, a unique field
  // (per owner in owner collections) or the slug. A concurrent insert of the
  // same value has committed by now (ON CONFLICT waited for it).
  Status takenField(const CollectionSpec& c, const Record& r) {
    auto taken = [&](const std::string& column, const rapidjson::Value* v, std::string_view text) -> std::optional<Status> {
      std::string q = "SELECT 1 FROM " + sql::quote(c.name) + " WHERE " + sql::quote(column) + " = $1";
      PgParams p;
      std::vector<std::string> scratch;
      if (v) sql::bindField(p, 1, *c.field(column), *v, scratch);
      else p.text(1, text);
      if (c.visibility == Visibility::owner && column != "id") {
        q += " AND \"owner\" = $2";
        p.text(2, r.owner);
      }
      PgResult res;
      if (auto e = conn_.run(q + " LIMIT 1", p, res)) return e;
      if (res.rows() > 0) return Status{StatusCode::uniqueViolation, column, "postgres: unique value taken"};
      return std::nullopt;
    };
    if (auto e = taken("id", nullptr, r.id)) return *e;
    for (const auto& f : c.fields) {
      if (!f.unique) continue;
      auto it = r.values.FindMember(rapidjson::StringRef(f.name.data(), f.name.size()));
      if (it == r.values.MemberEnd() || it->value.IsNull()) continue;
      if (auto e = taken(f.name, &it->value, {})) return *e;
    }
    if (r.slug)
      if (auto e = taken("slug", nullptr, *r.slug)) return *e;
    // Taken a moment ago and gone again: report it as a conflict all the same.
    return Status{StatusCode::uniqueViolation, "id", "postgres: insert skipped on a conflict"};
  }
  Status exec(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange = false) {
    PgResult res;
    if (auto e = conn_.run(sqlText, params, res)) return e;
    if (mustChange && std::string_view(PQcmdTuples(res.res)) == "0") return Status{StatusCode::notFound, {}, {}};
    return {};
  }
  const PgStore& store_;
  PgConnection& conn_;
  std::unordered_set<std::string> reservedSlugs_;  // collections whose slugs this job locked whole
};

void PgStore::submitWrite(WriteJob job, WriteDone done) { queue_.push(std::move(job), std::move(done)); }

void PgStore::writerLoop() {
  std::vector<WriteQueue::Pending> group;
  while (queue_.takeGroup(group)) {
    bool committed = runGroup(group);
    for (auto& p : group) p.done(committed);
    group.clear();
  }
}

bool PgStore::runGroup(std::vector<WriteQueue::Pending>& group) {
  std::lock_guard lock(writerMutex_);
  auto log = [](const std::string& what, const Status& e) {
    std::fprintf(stderr, "restd: storage writer: %s (%s)\n", what.c_str(), e.detail.c_str());
  };
  // One round trip between jobs: each pair of commands goes as one message.
  // A connection that PostgreSQL dropped while idle (a restart) is found out
  // by BEGIN; nothing has run yet, so a new connection simply tries again.
  Status begun;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!writer_ || writer_->broken()) {
      std::string error;
      writer_ = PgConnection::open(url_, config_, error);
      if (!writer_) {
        std::fprintf(stderr, "restd: storage writer: %s\n", error.c_str());
        return false;
      }
    }
    begun = writer_->exec("BEGIN; SAVEPOINT job");
    if (!begun || !writer_->broken()) break;
  }
  if (begun) {
    log("cannot begin the group's transaction", begun);
    (void)writer_->exec("ROLLBACK");  // the group has failed already; a broken connection is reopened
    return false;
  }
  bool accountsChanged = false;
  Txn events(*this, *writer_);  // the events of the jobs kept, written once before the commit
  for (size_t i = 0; i < group.size(); ++i) {
    Txn txn(*this, *writer_);
    bool keep = false;
    try {
      keep = group[i].job(txn);
      accountsChanged = accountsChanged || (keep && txn.revokedAccess());
      if (keep) events.addEvents(txn.takeEvents());
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "restd: storage writer: a write job threw: %s\n", ex.what());
    } catch (...) {
      std::fprintf(stderr, "restd: storage writer: a write job threw a non-standard exception\n");
    }
    bool last = i + 1 == group.size();
    const char* next = keep ? (last ? "RELEASE job" : "RELEASE job; SAVEPOINT job")
                            : (last ? "ROLLBACK TO job; RELEASE job" : "ROLLBACK TO job; RELEASE job; SAVEPOINT job");
    // A savepoint that cannot be released or rolled back to leaves the
    // group's state unknown: then nothing of it is committed and every job
    // hears `committed = false`, never a silent success.
    if (auto e = writer_->exec(next)) {
      log("cannot undo or release a job's savepoint", e);
      (void)writer_->exec("ROLLBACK");  // the group has failed already; a broken connection is reopened
      return false;
    }
  }
  // Events get their seq while the writer holds one lock that every node's
  // writer takes for this last step and keeps until its commit: commits with
  // events are serialised across nodes and the log's seq grows in commit
  // order, which lets the change feed read "everything after N" without
  // missing one. Taken here, not at BEGIN, it is held for the insert and the
  // commit only (a long job, an import, does not stall the other nodes'
  // writes), and it cannot deadlock: holding it, a writer only adds rows
  // to the log, which waits on no other lock.
  Status ordered = events.hasEvents() ? writer_->exec("SELECT pg_advisory_xact_lock(7309310421455826)") : Status{};
  if (auto e = ordered ? ordered : events.flushEvents()) {
    log("cannot write the group's events", e);
    (void)writer_->exec("ROLLBACK");  // the group has failed already; a broken connection is reopened
    return false;
  }
  if (auto e = writer_->exec("COMMIT")) {
    log("cannot commit the group", e);
    (void)writer_->exec("ROLLBACK");  // the group has failed already; a broken connection is reopened
    return false;
  }
  // This node's own revocations hold before their replies go out; other
  // nodes hear of them through NOTIFY (listenLoop), this one might hear late.
  if (accountsChanged) authGeneration_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

}  // namespace restd::store
