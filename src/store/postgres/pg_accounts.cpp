// Users, API keys, tokens (and the LISTEN/NOTIFY listener that keeps the
// token cache exact across nodes), login failures, events, settings and
// the shared rate-limit buckets.
#include "store/postgres/pg_support.h"

#include <poll.h>

#include <cerrno>
#include <cstdio>

#include "common/metrics.h"
#include "store/postgres/pg_pipeline.h"
#include "common/time.h"
#include "store/sql/account_txn.h"

namespace restd::store {

using namespace pg;
using sql::Dialect;

// ---------------------------------------------------------------- reads of accounts

Status PgStore::findUser(std::string_view userName, User& out) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    if (auto e = c.run("SELECT id, username, role, passwordhash, createdat FROM _restd_users WHERE username = $1",
                       {std::string(userName)}, r))
      return e;
    if (r.rows() == 0) return Status{StatusCode::notFound, {}, {}};
    readUser(r.res, 0, out);
    return {};
  });
}

Status PgStore::listUsers(std::vector<User>& out) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    out.clear();
    if (auto e = c.run("SELECT id, username, role, passwordhash, createdat FROM _restd_users ORDER BY username COLLATE \"C\"",
                       std::vector<SqlValue>{}, r))
      return e;
    for (int i = 0; i < r.rows(); ++i) {
      out.emplace_back();
      readUser(r.res, i, out.back());
    }
    return {};
  });
}

Status PgStore::findApiKey(std::string_view keyHash, ApiKey& out) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    if (auto e = c.run("SELECT label, prefix, createdat FROM _restd_apikeys WHERE keyhash = $1", {std::string(keyHash)}, r))
      return e;
    if (r.rows() == 0) return Status{StatusCode::notFound, {}, {}};
    out = ApiKey{textAt(r.res, 0, 0), textAt(r.res, 0, 1), toInt64(PQgetvalue(r.res, 0, 2))};
    return {};
  });
}

Status PgStore::listApiKeys(std::vector<ApiKey>& out) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    out.clear();
    if (auto e = c.run("SELECT label, prefix, createdat FROM _restd_apikeys ORDER BY createdat, label COLLATE \"C\"",
                       std::vector<SqlValue>{}, r))
      return e;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(ApiKey{textAt(r.res, i, 0), textAt(r.res, i, 1), toInt64(PQgetvalue(r.res, i, 2))});
    return {};
  });
}

// A token revoked on any node is refused by every node as soon as its NOTIFY
// arrives (milliseconds; the cluster tests allow 1 s).
Status PgStore::findToken(std::string_view tokenHash, int64_t now, TokenOwner& out) {
  // The cache is exact across nodes: a trigger on the token and user tables
  // NOTIFYs every node's listener at each commit that changes them, which
  // moves the generation on; an entry counts only at the generation it was
  // read at, which was taken before its query. Without a live listener
  // nothing is cached.
  bool cacheable = listening_.load(std::memory_order_acquire);
  uint64_t generation = authGeneration_.load(std::memory_order_acquire);
  if (cacheable && cachedToken(tokenHash, now, out)) return {};
  std::string hash(tokenHash);
  Status result = withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    if (auto e = c.run("SELECT u.id, u.username, u.role, t.apikeylabel, t.expiresat FROM _restd_tokens t "
                       "JOIN _restd_users u ON u.id = t.userid WHERE t.tokenhash = $1 AND t.expiresat > $2",
                       {std::string(tokenHash), now}, r))
      return e;
    if (r.rows() == 0) return Status{StatusCode::notFound, {}, {}};
    out.userId = textAt(r.res, 0, 0);
    out.userName = textAt(r.res, 0, 1);
    out.role = textAt(r.res, 0, 2);
    out.apiKeyLabel = textAt(r.res, 0, 3);
    out.expiresAt = toInt64(PQgetvalue(r.res, 0, 4));
    return {};
  });
  if (!result && cacheable) {
    std::lock_guard lock(tokenMutex_);
    if (tokens_.size() >= 4096) tokens_.clear();  // bounded; refilled by the tokens in use
    tokens_[hash] = CachedToken{out, generation};
  }
  return result;
}

bool PgStore::cachedToken(std::string_view tokenHash, int64_t now, TokenOwner& out) {
  if (!listening_.load(std::memory_order_acquire)) return false;
  uint64_t generation = authGeneration_.load(std::memory_order_acquire);
  std::lock_guard lock(tokenMutex_);
  auto it = tokens_.find(std::string(tokenHash));
  if (it == tokens_.end() || it->second.generation != generation || it->second.owner.expiresAt <= now) return false;
  out = it->second.owner;
  return true;
}

// ---------------------------------------------------------------- listener

void PgStore::listenLoop() {
  // One connection of the node's own (SPEC §9: pool_size + the writer + this).
  while (!stopListening_.load()) {
    std::string error;
    auto conn = PgConnection::open(url_, config_, error);
    if (conn && !conn->exec("LISTEN restd_auth; LISTEN restd_events")) {
      // Whatever changed while nobody listened is unknown: start afresh.
      authGeneration_.fetch_add(1, std::memory_order_acq_rel);
      listening_.store(true, std::memory_order_release);
      while (!stopListening_.load()) {
        pollfd fds[2] = {{PQsocket(conn->raw()), POLLIN, 0}, {wakeFd_, POLLIN, 0}};
        int n = ::poll(fds, 2, 1000);
        if (n < 0 && errno != EINTR) break;
        if (fds[1].revents) break;
        if (n > 0 && !PQconsumeInput(conn->raw())) break;  // the connection is gone
        bool any = false, events = false;
        while (PGnotify* note = PQnotifies(conn->raw())) {
          if (std::string_view(note->relname) == "restd_events") events = true;
          else any = true;
          PQfreemem(note);
        }
        if (any) authGeneration_.fetch_add(1, std::memory_order_acq_rel);
        if (events) {
          std::lock_guard lock(eventWakeMutex_);
          if (eventWake_) eventWake_();
        }
        if (conn->broken()) break;
      }
      listening_.store(false, std::memory_order_release);
      authGeneration_.fetch_add(1, std::memory_order_acq_rel);
    }
    // PostgreSQL is away: try again shortly (tokens are read uncached meanwhile).
    pollfd wake{wakeFd_, POLLIN, 0};
    ::poll(&wake, 1, 500);
  }
}

Status PgStore::loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) {
  return withConnection([&](PgConnection& c) -> Status {
    out.clear();
    PgResult r;
    if (auto e = c.run(sql::AccountTxn::loginFailuresSql(Dialect::postgres), {std::string(key), sinceMs}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) out.push_back(toInt64(PQgetvalue(r.res, i, 0)));
    return {};
  });
}

void PgStore::registerMetrics(Metrics& m) const {
  queue_.registerMetrics(m);
  auto locked = [this](auto get) {
    return [this, get] {
      std::lock_guard lock(poolMutex_);
      return static_cast<double>(get());
    };
  };
  m.addGauge({"restd_storage_pool_size", "PostgreSQL connections this node may use for requests.", "gauge",
              [this] { return static_cast<double>(config_.poolSize); }});
  m.addGauge({"restd_storage_pool_in_use", "PostgreSQL connections leased to requests now.", "gauge",
              locked([this] { return leased_; })});
  m.addGauge({"restd_storage_pool_waiting", "Requests waiting for a PostgreSQL connection.", "gauge",
              locked([this] { return waiting_; })});
  auto pipelined = [this](bool redone) {
    return [this, redone] {
      std::lock_guard lock(poolMutex_);
      uint64_t n = 0;
      for (const auto& p : pipelines_) n += redone ? p->redone() : p->answered();
      return static_cast<double>(n);
    };
  };
  m.addGauge({"restd_storage_pipelined_reads_total",
              "Point reads answered through the I/O threads' pipelined PostgreSQL connections.", "counter",
              pipelined(false)});
  m.addGauge({"restd_storage_pipelined_reads_redone_total",
              "Pipelined reads answered through the pool instead (their connection was lost, or another read of "
              "their batch failed).",
              "counter", pipelined(true)});
}

Status PgStore::readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) {
  return withConnection([&](PgConnection& c) -> Status {
    out.clear();
    PgResult r;
    if (auto e = c.run(sql::AccountTxn::eventsSql(Dialect::postgres), {after, limit}, r)) return e;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(StoredEvent{toInt64(PQgetvalue(r.res, i, 0)), textAt(r.res, i, 1), textAt(r.res, i, 2),
                                textAt(r.res, i, 3), textAt(r.res, i, 4), textAt(r.res, i, 5),
                                toInt64(PQgetvalue(r.res, i, 6))});
    return {};
  });
}

Status PgStore::eventBounds(int64_t& oldest, int64_t& newest) {
  return withConnection([&](PgConnection& c) -> Status {
    oldest = newest = 0;
    PgResult r;
    if (auto e = c.run(std::string(sql::AccountTxn::kEventBoundsSql), std::vector<SqlValue>{}, r)) return e;
    if (!PQgetisnull(r.res, 0, 0)) oldest = toInt64(PQgetvalue(r.res, 0, 0));
    if (!PQgetisnull(r.res, 0, 1)) newest = toInt64(PQgetvalue(r.res, 0, 1));
    return {};
  });
}

void PgStore::onForeignEvents(std::function<void()> wake) {
  std::lock_guard lock(eventWakeMutex_);
  eventWake_ = std::move(wake);
}

Status PgStore::readSetting(std::string_view key, std::optional<std::string>& out) {
  return withConnection([&](PgConnection& c) -> Status {
    out.reset();
    PgResult r;
    if (auto e = c.run(sql::AccountTxn::settingSql(Dialect::postgres), {std::string(key)}, r)) return e;
    if (r.rows() > 0) out = std::string(PQgetvalue(r.res, 0, 0), static_cast<size_t>(PQgetlength(r.res, 0, 0)));
    return {};
  });
}

namespace {

// One statement refills a bucket by the server's clock and takes what it
// can: the row lock of the upsert makes it atomic across nodes. A new key
// starts full. `granted` is kept in the row only so RETURNING can report it.
// ?1 key, ?2 capacity, ?3 tokens per second, ?4 tokens wanted.
const std::string kTakeRateTokens =
    "INSERT INTO _restd_rate_buckets AS b (key, tokens, stamp, granted) "
    "VALUES ($1, $2::float8 - LEAST($4::bigint, floor($2::float8)), extract(epoch FROM clock_timestamp()), "
    "LEAST($4::bigint, floor($2::float8))) "
    "ON CONFLICT (key) DO UPDATE SET "
    "granted = GREATEST(0, LEAST($4::bigint, floor(LEAST($2::float8, b.tokens + $3::float8 * "
    "GREATEST(0, excluded.stamp - b.stamp))))), "
    "tokens = LEAST($2::float8, b.tokens + $3::float8 * GREATEST(0, excluded.stamp - b.stamp)) - "
    "GREATEST(0, LEAST($4::bigint, floor(LEAST($2::float8, b.tokens + $3::float8 * "
    "GREATEST(0, excluded.stamp - b.stamp))))), "
    "stamp = excluded.stamp "
    "RETURNING granted, tokens";
const std::string kReturnRateTokens =
    "UPDATE _restd_rate_buckets SET tokens = LEAST($2::float8, tokens + $3::bigint) WHERE key = $1";
// Buckets untouched for ten minutes are full again: forgetting them changes nothing.
const std::string kForgetRateBuckets =
    "DELETE FROM _restd_rate_buckets WHERE stamp < extract(epoch FROM clock_timestamp()) - 600";

}  // namespace

Status PgStore::takeRateTokens(std::string_view key, double capacity, double perSecond, int64_t want,
                              RateGrant& out) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    if (auto e = c.run(kTakeRateTokens, {std::string(key), capacity, perSecond, want}, r)) return e;
    out.granted = toInt64(PQgetvalue(r.res, 0, 0));
    out.left = std::strtod(PQgetvalue(r.res, 0, 1), nullptr);
    return {};
  });
}

Status PgStore::returnRateTokens(std::string_view key, double capacity, int64_t n) {
  return withConnection([&](PgConnection& c) -> Status {
    PgResult r;
    if (auto e = c.run(kReturnRateTokens, {std::string(key), capacity, n}, r)) return e;
    // Now and then, while here, the table sheds buckets nobody uses.
    if (forgetCountdown_.fetch_sub(1, std::memory_order_relaxed) <= 0) {
      forgetCountdown_.store(1000, std::memory_order_relaxed);
      return c.run(kForgetRateBuckets, std::vector<SqlValue>{}, r);
    }
    return {};
  });
}

}  // namespace restd::store
