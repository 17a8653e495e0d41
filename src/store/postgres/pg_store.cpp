#include "store/postgres/pg_store.h"
#include "store/postgres/pg_pipeline.h"
#include "store/postgres/pg_support.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "common/time.h"
#include "store/sql/account_txn.h"
#include "store/sql/record_codec.h"
#include "store/sql/schema_plan.h"

namespace restd::store {

using namespace pg;  // the helpers shared with pg_pipeline.cpp
namespace {

using sql::Dialect;

// ---------------------------------------------------------------- text

// PostgreSQL's text cannot hold U+0000, which JSON strings may. A value with
// a NUL, or one that starts with the marker U+FDD0 (a noncharacter), is
// stored as the marker followed by the value with '\' written "\\" and NUL
// "\0"; every other value is stored as it is. The mapping is one-to-one, so
// equality, uniqueness and round trips are exact; only such values sort
// and match `like` by their stored form (docs/storage.md).
constexpr std::string_view kMarker = "\xEF\xB7\x90";

bool needsEscape(std::string_view t) { return t.starts_with(kMarker) || t.find('\0') != std::string_view::npos; }

std::string escapeText(std::string_view t) {
  std::string out(kMarker);
  out.reserve(t.size() + 8);
  for (char c : t) {
    if (c == '\\') out += "\\\\";
    else if (c == '\0') out += "\\0";
    else out += c;
  }
  return out;
}

}  // namespace

namespace pg {

// The stored form back into `buf`; returns a view of the value.
std::string_view unescapeText(std::string_view t, std::string& buf) {
  if (!t.starts_with(kMarker)) return t;
  buf.clear();
  for (size_t i = kMarker.size(); i < t.size(); ++i) {
    if (t[i] == '\\' && i + 1 < t.size()) {
      buf += t[i + 1] == '0' ? '\0' : t[i + 1];
      ++i;
    } else {
      buf += t[i];
    }
  }
  return buf;
}

// libpq's messages span lines ("...: Connection refused\n\tIs the server
// running..."); logs and errors want one.
std::string oneLine(std::string_view m) {
  std::string out;
  for (char c : m) {
    if (c == '\n' || c == '\t' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

int64_t toInt64(const char* s) {
  int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

// SQLSTATE classes that mean "PostgreSQL cannot serve us right now", not "the
// request is wrong": connection (08), resources (53), operator intervention
// (57: shutdown, cancel), transaction rollback (40: serialization,
// deadlock), system errors (58), and a lock waited for longer than the
// session's lock_timeout (55P03).
Status statusOf(std::string_view sqlstate) {
  if (sqlstate == "23505") return Status::uniqueViolation;
  if (sqlstate == "55P03") return Status::unavailable;
  for (std::string_view cls : {"08", "53", "57", "40", "58"})
    if (sqlstate.starts_with(cls)) return Status::unavailable;
  return Status::internal;
}

// A unique violation names its constraint: "<table>__unique_<field>" (the
// indexes and constraints restd makes) or "<table>_pkey" (the id).
std::string fieldOfConstraint(std::string_view name) {
  size_t at = name.find("__unique_");
  if (at != std::string_view::npos) return std::string(name.substr(at + 9));
  return "id";
}

Error pgError(PGconn* conn, const PGresult* res) {
  Error e;
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (!state || PQstatus(conn) != CONNECTION_OK) e.status = Status::unavailable;
  else e.status = statusOf(state);
  const char* msg = res ? PQresultErrorMessage(res) : nullptr;
  if (!msg || !*msg) msg = PQerrorMessage(conn);
  e.detail = "postgres: " + (state ? std::string(state) + " " : std::string()) + oneLine(msg);
  if (e.status == Status::uniqueViolation) {
    const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    e.field = fieldOfConstraint(constraint ? constraint : "");
  }
  return e;
}

bool PgRow::isInteger(int c) const {
  const char* v = PQgetvalue(res, row, c);
  if (std::strpbrk(v, ".eEnN")) return false;  // a fraction, an exponent, NaN or Infinity
  int64_t out;
  auto [end, ec] = std::from_chars(v, v + std::strlen(v), out);
  return ec == std::errc() && *end == 0;
}

}  // namespace pg

namespace {

std::string textAt(const PGresult* res, int row, int col) {
  std::string buf;
  return std::string(unescapeText(std::string_view(PQgetvalue(res, row, col), PQgetlength(res, row, col)), buf));
}

// A stable 64-bit hash (FNV-1a) for advisory lock keys: the same on every
// node, unlike std::hash.
int64_t lockKey(std::initializer_list<std::string_view> parts) {
  uint64_t h = 14695981039346656037ull;
  for (std::string_view p : parts) {
    for (unsigned char c : p) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xFF;  // a separator no UTF-8 text contains
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>(h);
}

// Held by every migration: nodes starting together on an empty database
// migrate one after the other, and the later ones find nothing to do.
constexpr int64_t kMigrationLock = 0x7265737464000001;  // "restd" 1

}  // namespace

// ---------------------------------------------------------------- params

const char*& PgParams::slot(int i) {
  size_t n = static_cast<size_t>(i);
  if (values_.size() < n) {
    values_.resize(n, nullptr);
    lengths_.resize(n, 0);
  }
  return values_[n - 1];
}

void PgParams::integer(int i, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  owned_.emplace_back(buf, end);
  slot(i) = owned_.back().c_str();
  lengths_[static_cast<size_t>(i) - 1] = static_cast<int>(owned_.back().size());
}

void PgParams::real(int i, double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  owned_.emplace_back(buf, static_cast<size_t>(n));
  slot(i) = owned_.back().c_str();
  lengths_[static_cast<size_t>(i) - 1] = n;
}

void PgParams::text(int i, std::string_view t) {
  if (needsEscape(t)) owned_.push_back(escapeText(t));
  else owned_.emplace_back(t);
  slot(i) = owned_.back().c_str();
  lengths_[static_cast<size_t>(i) - 1] = static_cast<int>(owned_.back().size());
}

void PgParams::add(const SqlValue& v) {
  int i = count() + 1;
  if (std::holds_alternative<std::monostate>(v)) null(i);
  else if (auto* n = std::get_if<int64_t>(&v)) integer(i, *n);
  else if (auto* d = std::get_if<double>(&v)) real(i, *d);
  else text(i, std::get<std::string>(v));
}

void PgParams::clear() {
  values_.clear();
  lengths_.clear();
  owned_.clear();
}

// ---------------------------------------------------------------- connection

std::unique_ptr<PgConnection> PgConnection::open(const std::string& url, const StorageConfig& config,
                                                 std::string& error) {
  // Ours first: the URL's own settings (expanded from dbname) win over them.
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", nullptr};
  const char* values[] = {"2", "restd", "UTF8", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    error = "cannot connect to PostgreSQL: " + oneLine(c ? PQerrorMessage(c) : "out of memory");
    if (c) PQfinish(c);
    return nullptr;
  }
  // NOTICEs ("index ... does not exist, skipping") are not for the operator.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  std::unique_ptr<PgConnection> conn(new PgConnection(c));
  // durability "full": a 2xx write is flushed to PostgreSQL's WAL before the
  // reply; "normal" lets PostgreSQL flush it a moment later.
  std::string setup = std::string("SET synchronous_commit = ") + (config.durability == "full" ? "on" : "off") +
                      "; SET lock_timeout = '10s'";
  if (auto e = conn->exec(setup.c_str())) {
    error = "cannot prepare the PostgreSQL session: " + e.detail;
    return nullptr;
  }
  PgResult enc(PQexec(c, "SHOW server_encoding"));
  if (PQresultStatus(enc.res) != PGRES_TUPLES_OK || std::string_view(PQgetvalue(enc.res, 0, 0)) != "UTF8") {
    error = "the PostgreSQL database must use the UTF8 encoding (CREATE DATABASE ... ENCODING 'UTF8')";
    return nullptr;
  }
  return conn;
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Error PgConnection::exec(const char* sql) {
  PgResult r(PQexec(conn_, sql));
  ExecStatusType st = PQresultStatus(r.res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return pgError(conn_, r.res);
}

Error PgConnection::run(const std::string& sql, const PgParams& params, PgResult& out) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    if (prepared_.size() >= 512) {  // list queries vary with filters: keep the set bounded
      PgResult d(PQexec(conn_, "DEALLOCATE ALL"));
      prepared_.clear();
    }
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    PgResult p(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    if (PQresultStatus(p.res) != PGRES_COMMAND_OK) {
      Error e = pgError(conn_, p.res);
      out = std::move(p);
      return e;
    }
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  out = PgResult(PQexecPrepared(conn_, it->second.c_str(), params.count(), params.values(), params.lengths(), nullptr, 0));
  ExecStatusType st = PQresultStatus(out.res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return pgError(conn_, out.res);
}

Error PgConnection::runOnce(const std::string& sql, const PgParams& params, PgResult& out) {
  out = PgResult(PQexecParams(conn_, sql.c_str(), params.count(), nullptr, params.values(), params.lengths(), nullptr, 0));
  ExecStatusType st = PQresultStatus(out.res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return pgError(conn_, out.res);
}

Error PgConnection::run(const std::string& sql, const std::vector<SqlValue>& params, PgResult& out) {
  PgParams p;
  for (const auto& v : params) p.add(v);
  return run(sql, p, out);
}

// ---------------------------------------------------------------- store

std::unique_ptr<PgStore> PgStore::open(const std::string& url, const StorageConfig& config, std::string& error) {
  auto writer = PgConnection::open(url, config, error);
  if (!writer) return nullptr;
  std::unique_ptr<PgStore> s(new PgStore(url, config));
  s->writer_ = std::move(writer);
  s->writerThread_ = std::thread([p = s.get()] { p->writerLoop(); });
  s->wakeFd_ = eventfd(0, EFD_CLOEXEC);
  if (s->wakeFd_ >= 0) s->listenThread_ = std::thread([p = s.get()] { p->listenLoop(); });
  return s;
}

PgStore::PgStore(std::string url, StorageConfig config)
    : url_(std::move(url)), config_(std::move(config)) {}

PgStore::~PgStore() {
  detachLoop();
  close();
}

void PgStore::attachLoop(EventLoop& loop) {
  // Pipelines only where the pool keeps a connection for everything else.
  unsigned n = std::min(loop.threads(), config_.poolSize > 1 ? config_.poolSize - 1 : 0u);
  std::lock_guard lock(poolMutex_);
  for (unsigned i = 0; i < n; ++i) {
    PgPipeline::Setup setup;
    setup.open = [this](std::string& error) { return PgConnection::open(url_, config_, error); };
    for (const auto& [name, sql] : sql_) setup.statements.emplace_back(name, sql.get);
    setup.get = [this](const CollectionSpec& c, std::string_view key, Record& out, SlugScope scope) {
      return get(c, key, out, scope);
    };
    pipelines_.push_back(std::make_unique<PgPipeline>(loop, std::move(setup)));
  }
}

void PgStore::detachLoop() {
  std::vector<std::unique_ptr<PgPipeline>> gone;
  {
    std::lock_guard lock(poolMutex_);
    gone.swap(pipelines_);
  }
  gone.clear();  // joins their threads, whose redone reads may lease from the pool
  std::lock_guard lock(poolMutex_);
  poolCv_.notify_all();
}

bool PgStore::getAsync(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, GetDone& done) {
  // Read without a lock: pipelines_ changes only before serving and after.
  if (pipelines_.empty()) return false;
  // Each thread keeps to one pipeline: its reads share batches.
  static std::atomic<unsigned> nextSlot{0};
  thread_local unsigned slot = nextSlot.fetch_add(1, std::memory_order_relaxed);
  return pipelines_[slot % pipelines_.size()]->get(c, idOrSlug, scope, done);
}

void PgStore::close() {
  if (!queue_.close()) return;
  if (writerThread_.joinable()) writerThread_.join();
  stopListening_ = true;
  if (wakeFd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
  }
  if (listenThread_.joinable()) listenThread_.join();
  if (wakeFd_ >= 0) ::close(wakeFd_);
  wakeFd_ = -1;
  std::lock_guard lock(poolMutex_);
  closed_ = true;
  idle_.clear();
  poolCv_.notify_all();
}

std::unique_ptr<PgConnection> PgStore::acquire(std::string& error) {
  std::unique_lock lock(poolMutex_);
  ++waiting_;
  // The pipelines' connections count against pool_size too.
  poolCv_.wait(lock, [&] { return closed_ || leased_ + pipelines_.size() < config_.poolSize; });
  --waiting_;
  if (closed_) {
    error = "the storage is closed";
    return nullptr;
  }
  ++leased_;
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  lock.unlock();
  auto c = PgConnection::open(url_, config_, error);
  if (!c) {
    lock.lock();
    --leased_;
    poolCv_.notify_one();
  }
  return c;
}

void PgStore::release(std::unique_ptr<PgConnection> c) {
  std::lock_guard lock(poolMutex_);
  --leased_;
  // A connection PostgreSQL dropped (restart, network) is closed, and so
  // are the idle ones, which were lost the same way; the next request opens
  // a new one, so the node reconnects by itself.
  if (c && c->broken()) idle_.clear();
  else if (c && !closed_) idle_.push_back(std::move(c));
  poolCv_.notify_one();
}

template <typename Fn>
Error PgStore::withConnection(Fn&& fn) {
  // An idle connection finds out that PostgreSQL restarted only when it is
  // used: then the read is tried once more on a new connection (reads
  // change nothing, and `fn` starts its output afresh).
  for (int attempt = 0;; ++attempt) {
    std::string error;
    auto conn = acquire(error);
    if (!conn) return Error{Status::unavailable, {}, error};
    Error e = fn(*conn);
    bool lost = conn->broken();
    release(std::move(conn));
    if (!lost || attempt == 1) return e;
  }
}

bool PgStore::ready() {
  Error e = withConnection([](PgConnection& c) { return c.exec("SELECT 1"); });
  return !e;
}

namespace pg {

void getParams(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, PgParams& p) {
  p.text(1, idOrSlug);
  if (c.slugFrom && c.visibility == Visibility::owner) {
    p.text(2, scope.owner);
    p.text(3, scope.anyOwner ? "true" : "false");
  }
}

Error readGot(const CollectionSpec& c, const PGresult* res, Record& out) {
  if (PQntuples(res) == 0) return Error{Status::notFound, {}, {}};
  PgRow row{res, 0, {}};
  sql::readRecord(c, row, out);
  return {};
}

Error getRecord(PgConnection& conn, const std::string& sqlText, const CollectionSpec& c, std::string_view idOrSlug,
                SlugScope scope, Record& out) {
  PgParams p;
  getParams(c, idOrSlug, scope, p);
  PgResult r;
  if (auto e = conn.run(sqlText, p, r)) return e;
  return readGot(c, r.res, out);
}

}  // namespace pg

Error PgStore::get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) {
  return withConnection([&](PgConnection& conn) { return getRecord(conn, sqlFor(c).get, c, idOrSlug, scope, out); });
}

Error PgStore::list(const CollectionSpec& c, const ListQuery& q, ListResult& out) {
  sql::ListSql lq;
  if (auto e = sql::buildListSql(Dialect::postgres, c, sqlFor(c), q, lq)) return e;
  return withConnection([&](PgConnection& conn) -> Error {
    out = ListResult{};
    // The page and its total in one snapshot, so they agree.
    bool counted = !lq.count.empty();
    if (counted)
      if (auto e = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) return e;
    auto finish = [&](Error e) {
      if (counted) conn.exec(e ? "ROLLBACK" : "COMMIT");
      return e;
    };
    PgResult r;
    if (auto e = conn.run(lq.page, lq.pageParams, r)) return finish(e);
    int n = r.rows();
    for (int i = 0; i < n; ++i) {
      if (static_cast<int64_t>(out.records.size()) == q.limit) {
        out.hasMore = true;
        break;
      }
      out.records.emplace_back(*out.pool);
      PgRow row{r.res, i, {}};
      sql::readRecord(c, row, out.records.back());
    }
    if (counted) {
      PgResult cr;
      if (auto e = conn.run(lq.count, lq.countParams, cr)) return finish(e);
      out.total = toInt64(PQgetvalue(cr.res, 0, 0));
    }
    return finish({});
  });
}

// ---------------------------------------------------------------- reads of accounts

namespace {

void readUser(const PGresult* r, int i, User& u) {
  PgRow row{r, i, {}};
  u = sql::AccountTxn::userFromRow(row);
}

}  // namespace

Error PgStore::findUser(std::string_view userName, User& out) {
  return withConnection([&](PgConnection& c) -> Error {
    PgResult r;
    if (auto e = c.run("SELECT id, username, role, passwordhash, createdat FROM _restd_users WHERE username = $1",
                       {std::string(userName)}, r))
      return e;
    if (r.rows() == 0) return Error{Status::notFound, {}, {}};
    readUser(r.res, 0, out);
    return {};
  });
}

Error PgStore::listUsers(std::vector<User>& out) {
  return withConnection([&](PgConnection& c) -> Error {
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

Error PgStore::findApiKey(std::string_view keyHash, ApiKey& out) {
  return withConnection([&](PgConnection& c) -> Error {
    PgResult r;
    if (auto e = c.run("SELECT label, prefix, createdat FROM _restd_apikeys WHERE keyhash = $1", {std::string(keyHash)}, r))
      return e;
    if (r.rows() == 0) return Error{Status::notFound, {}, {}};
    out = ApiKey{textAt(r.res, 0, 0), textAt(r.res, 0, 1), toInt64(PQgetvalue(r.res, 0, 2))};
    return {};
  });
}

Error PgStore::listApiKeys(std::vector<ApiKey>& out) {
  return withConnection([&](PgConnection& c) -> Error {
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
Error PgStore::findToken(std::string_view tokenHash, int64_t now, TokenOwner& out) {
  // The cache is exact across nodes: a trigger on the token and user tables
  // NOTIFYs every node's listener at each commit that changes them, which
  // moves the generation on; an entry counts only at the generation it was
  // read at, which was taken before its query. Without a live listener
  // nothing is cached.
  bool cacheable = listening_.load(std::memory_order_acquire);
  uint64_t generation = authGeneration_.load(std::memory_order_acquire);
  if (cacheable && cachedToken(tokenHash, now, out)) return {};
  std::string hash(tokenHash);
  Error result = withConnection([&](PgConnection& c) -> Error {
    PgResult r;
    if (auto e = c.run("SELECT u.id, u.username, u.role, t.apikeylabel, t.expiresat FROM _restd_tokens t "
                       "JOIN _restd_users u ON u.id = t.userid WHERE t.tokenhash = $1 AND t.expiresat > $2",
                       {std::string(tokenHash), now}, r))
      return e;
    if (r.rows() == 0) return Error{Status::notFound, {}, {}};
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

Error PgStore::loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) {
  return withConnection([&](PgConnection& c) -> Error {
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

Error PgStore::readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) {
  return withConnection([&](PgConnection& c) -> Error {
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

Error PgStore::eventBounds(int64_t& oldest, int64_t& newest) {
  return withConnection([&](PgConnection& c) -> Error {
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

Error PgStore::readSetting(std::string_view key, std::optional<std::string>& out) {
  return withConnection([&](PgConnection& c) -> Error {
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

Error PgStore::takeRateTokens(std::string_view key, double capacity, double perSecond, int64_t want,
                              RateGrant& out) {
  return withConnection([&](PgConnection& c) -> Error {
    PgResult r;
    if (auto e = c.run(kTakeRateTokens, {std::string(key), capacity, perSecond, want}, r)) return e;
    out.granted = toInt64(PQgetvalue(r.res, 0, 0));
    out.left = std::strtod(PQgetvalue(r.res, 0, 1), nullptr);
    return {};
  });
}

Error PgStore::returnRateTokens(std::string_view key, double capacity, int64_t n) {
  return withConnection([&](PgConnection& c) -> Error {
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

// ---------------------------------------------------------------- writes

class PgStore::Txn final : public sql::AccountTxn {
 public:
  Txn(const PgStore& store, PgConnection& conn) : AccountTxn(Dialect::postgres), store_(store), conn_(conn) {}

  // Locks the row until the group commits: a concurrent write on another
  // node waits for this one and then reads its result, so no update is lost.
  Error get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) override {
    return getRecord(conn_, store_.sqlFor(c).getForUpdate, c, idOrSlug, {}, out);
  }
  Error insert(const CollectionSpec& c, const Record& r) override {
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
                  std::vector<Error>& errors) override {
    errors.assign(records.size(), Error{});
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
      Error e = conn_.runOnce(bulkInsertSql(c, n, columns), p, res);
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
  Error nested(const std::function<bool()>& fn) override {
    if (auto e = conn_.exec("SAVEPOINT nested")) return e;
    size_t mark = eventMark();
    bool kept = fn();
    if (!kept) dropEventsAfter(mark);
    return conn_.exec(kept ? "RELEASE nested" : "ROLLBACK TO nested; RELEASE nested");
  }
  // In a savepoint of its own: a unique violation must not abort the
  // transaction that the job's other changes (a batch's items) share.
  Error update(const CollectionSpec& c, const Record& r) override {
    if (auto e = conn_.exec("SAVEPOINT one")) return e;
    PgResult res;
    Error e = write(store_.sqlFor(c).update, c, r, res);
    if (auto e2 = conn_.exec(e ? "ROLLBACK TO one; RELEASE one" : "RELEASE one")) return e2;
    if (!e && std::string_view(PQcmdTuples(res.res)) == "0") return Error{Status::notFound, {}, {}};
    return e;
  }
  Error remove(const CollectionSpec& c, std::string_view id) override {
    return exec(store_.sqlFor(c).remove, {std::string(id)}, true);
  }
  Error getStoredReply(std::string_view userId, std::string_view key, int64_t notBefore, StoredReply& out) override {
    // The key is held until this group commits: a request with the same key
    // on another node waits here, then finds this one's reply and replays it.
    if (auto e = exec("SELECT pg_advisory_xact_lock($1::bigint)", {lockKey({"idempotency", userId, key})})) return e;
    PgResult r;
    if (auto e = conn_.run("SELECT requesthash, status, contenttype, headers, body, createdat FROM _restd_idempotency "
                           "WHERE userid = $1 AND key = $2 AND createdat >= $3",
                           {std::string(userId), std::string(key), notBefore}, r))
      return e;
    if (r.rows() == 0) return Error{Status::notFound, {}, {}};
    out.requestHash = textAt(r.res, 0, 0);
    out.status = static_cast<int>(toInt64(PQgetvalue(r.res, 0, 1)));
    out.contentType = textAt(r.res, 0, 2);
    out.headers = textAt(r.res, 0, 3);
    out.body = textAt(r.res, 0, 4);
    out.createdAt = toInt64(PQgetvalue(r.res, 0, 5));
    return {};
  }
  Error slugTaken(const CollectionSpec& c, std::string_view owner, std::string_view slug, bool& taken) override {
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
  Error slugsTaken(const CollectionSpec& c, const std::vector<std::pair<std::string, std::string>>& candidates,
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
  Error reserveSlugs(const CollectionSpec& c) override {
    if (reservedSlugs_.count(c.name)) return {};
    if (auto e = exec("SELECT pg_advisory_xact_lock($1::bigint)", {lockKey({"slugs", c.name})})) return e;
    reservedSlugs_.insert(c.name);
    return {};
  }

 protected:
  Error execute(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange) override {
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
  Error write(const std::string& sqlText, const CollectionSpec& c, const Record& r, PgResult& res) {
    PgParams p;
    thread_local std::vector<std::string> scratch;
    sql::bindRecord(p, c, r, scratch);
    return conn_.run(sqlText, p, res);
  }
  // Which unique value of `r` an insert found taken: the id, a unique field
  // (per owner in owner collections) or the slug. A concurrent insert of the
  // same value has committed by now (ON CONFLICT waited for it).
  Error takenField(const CollectionSpec& c, const Record& r) {
    auto taken = [&](const std::string& column, const rapidjson::Value* v, std::string_view text) -> std::optional<Error> {
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
      if (res.rows() > 0) return Error{Status::uniqueViolation, column, "postgres: unique value taken"};
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
    return Error{Status::uniqueViolation, "id", "postgres: insert skipped on a conflict"};
  }
  Error exec(const std::string& sqlText, const std::vector<SqlValue>& params, bool mustChange = false) {
    PgResult res;
    if (auto e = conn_.run(sqlText, params, res)) return e;
    if (mustChange && std::string_view(PQcmdTuples(res.res)) == "0") return Error{Status::notFound, {}, {}};
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
  auto log = [](const std::string& what, const Error& e) {
    std::fprintf(stderr, "restd: storage writer: %s (%s)\n", what.c_str(), e.detail.c_str());
  };
  // One round trip between jobs: each pair of commands goes as one message.
  // A connection that PostgreSQL dropped while idle (a restart) is found out
  // by BEGIN; nothing has run yet, so a new connection simply tries again.
  Error begun;
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
    writer_->exec("ROLLBACK");
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
      writer_->exec("ROLLBACK");
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
  Error ordered = events.hasEvents() ? writer_->exec("SELECT pg_advisory_xact_lock(7309310421455826)") : Error{};
  if (auto e = ordered ? ordered : events.flushEvents()) {
    log("cannot write the group's events", e);
    writer_->exec("ROLLBACK");
    return false;
  }
  if (auto e = writer_->exec("COMMIT")) {
    log("cannot commit the group", e);
    writer_->exec("ROLLBACK");
    return false;
  }
  // This node's own revocations hold before their replies go out; other
  // nodes hear of them through NOTIFY (listenLoop), this one might hear late.
  if (accountsChanged) authGeneration_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

// ---------------------------------------------------------------- schema

bool PgStore::migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) {
  destructive = false;
  std::lock_guard lock(writerMutex_);  // nothing else writes before the server starts, but be sure
  PgConnection& db = *writer_;
  auto fail = [&](std::string msg) {
    error = std::move(msg);
    db.exec("ROLLBACK");
    return false;
  };
  // Run once each: not kept among the connection's prepared statements.
  auto step = [&](const std::string& sqlText, const std::vector<SqlValue>& params = {}) -> Error {
    PgParams p;
    for (const auto& v : params) p.add(v);
    PgResult r;
    return db.runOnce(sqlText, p, r);
  };
  if (auto e = db.exec("BEGIN")) return fail("cannot start migration: " + e.detail);
  if (auto e = step("SELECT pg_advisory_xact_lock($1::bigint)", {kMigrationLock}))
    return fail("cannot take the migration lock: " + e.detail);
  // System tables. Column names are unquoted (PostgreSQL folds them to lower
  // case); constraints are named "<table>__unique_<field>" so a unique
  // violation names its field.
  if (auto e = db.exec(
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
          "tokens DOUBLE PRECISION NOT NULL, stamp DOUBLE PRECISION NOT NULL, granted BIGINT NOT NULL);"))
    return fail("cannot create the system tables: " + e.detail);
  if (auto e = db.exec(std::string(sql::AccountTxn::kSettingsTableSql).c_str()))
    return fail("cannot create _restd_settings: " + e.detail);

  std::vector<std::string> refusals;
  for (const auto& c : config.collections) {
    PgResult r;
    if (auto e = db.run("SELECT to_regclass($1) IS NOT NULL", {sql::quote(c.name)}, r))
      return fail("cannot read the schema: " + e.detail);
    bool tableExists = std::string_view(PQgetvalue(r.res, 0, 0)) == "t";
    sql::RecordedFields existing;
    if (tableExists) {
      if (auto e = db.run("SELECT field, type FROM _restd_schema WHERE collection = $1", {c.name}, r))
        return fail("cannot read _restd_schema: " + e.detail);
      for (int i = 0; i < r.rows(); ++i) existing.emplace_back(textAt(r.res, i, 0), textAt(r.res, i, 1));
    } else {
      if (auto e = step(sql::createTableSql(Dialect::postgres, c)))
        return fail("cannot create table " + c.name + ": " + e.detail);
      if (auto e = step("DELETE FROM _restd_schema WHERE collection = $1", {c.name}))
        return fail("cannot reset schema: " + e.detail);
    }
    sql::TablePlan plan = sql::planTable(c, existing, allowDestructive);
    if (!plan.refusals.empty()) {
      refusals.insert(refusals.end(), plan.refusals.begin(), plan.refusals.end());
      continue;
    }
    for (const auto& name : plan.drop) {
      for (const auto& index : sql::indexNamesFor(c, name)) {
        if (auto e = step("DROP INDEX IF EXISTS " + sql::quote(index))) return fail("cannot drop " + index + ": " + e.detail);
        step("DELETE FROM _restd_indexes WHERE name = $1", {index});
      }
      if (auto e = step("ALTER TABLE " + sql::quote(c.name) + " DROP COLUMN " + sql::quote(name)))
        return fail("cannot drop " + c.name + "." + name + ": " + e.detail);
      if (auto e = step("DELETE FROM _restd_schema WHERE collection = $1 AND field = $2", {c.name, name}))
        return fail("cannot record schema: " + e.detail);
    }
    for (const FieldSpec* f : plan.add) {
      if (tableExists)
        if (auto e = step("ALTER TABLE " + sql::quote(c.name) + " ADD COLUMN " + sql::quote(f->name) + " " +
                          std::string(sql::columnType(Dialect::postgres, f->type))))
          return fail("cannot add " + c.name + "." + f->name + ": " + e.detail);
      if (auto e = step("INSERT INTO _restd_schema (collection, field, type) VALUES ($1, $2, $3) "
                        "ON CONFLICT (collection, field) DO UPDATE SET type = EXCLUDED.type",
                        {c.name, f->name, std::string(fieldTypeName(f->type))}))
        return fail("cannot record schema: " + e.detail);
      if (tableExists && f->defaultJson) {
        // Existing records get the field's default, bound like any other value.
        rapidjson::Document d;
        d.Parse(f->defaultJson->data(), f->defaultJson->size());
        PgParams p;
        std::vector<std::string> scratch;
        sql::bindField(p, 1, *f, d, scratch);
        PgResult res;
        if (auto e = db.run("UPDATE " + sql::quote(c.name) + " SET " + sql::quote(f->name) + " = $1", p, res))
          return fail("cannot fill " + c.name + "." + f->name + ": " + e.detail);
      }
    }
    // The indexes follow the config (store/sql/schema_plan.h); what each was
    // made with is kept in _restd_indexes, so a changed definition is rebuilt.
    std::vector<sql::IndexSpec> wanted = sql::wantedIndexes(c, sql::Dialect::postgres);
    for (const auto& want : wanted) {
      PgResult have;
      if (auto e = db.run("SELECT i.definition FROM _restd_indexes i WHERE i.name = $1 AND to_regclass($2) IS NOT NULL",
                          {want.name, sql::quote(want.name)}, have))
        return fail("cannot read the indexes: " + e.detail);
      if (have.rows() == 1 && textAt(have.res, 0, 0) == want.create) continue;
      Error e = step("DROP INDEX IF EXISTS " + sql::quote(want.name));
      if (!e) e = step(want.create);
      if (e) {
        if (!want.unique || want.field == "slug") return fail("cannot index " + c.name + "." + want.field + ": " + e.detail);
        return fail("cannot make " + c.name + "." + want.field + " unique" +
                    (c.visibility == Visibility::owner ? " per owner" : "") + ": existing records share values (" +
                    e.detail + ")");
      }
      if (auto e2 = step("INSERT INTO _restd_indexes (name, definition) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
                         "SET definition = EXCLUDED.definition",
                         {want.name, want.create}))
        return fail("cannot record the indexes: " + e2.detail);
    }
    for (const auto& f : c.fields)
      for (const auto& name : sql::indexNamesFor(c, f.name)) {
        bool keep = false;
        for (const auto& want : wanted) keep = keep || want.name == name;
        if (keep) continue;
        if (auto e = step("DROP INDEX IF EXISTS " + sql::quote(name))) return fail("cannot drop the index " + name + ": " + e.detail);
        step("DELETE FROM _restd_indexes WHERE name = $1", {name});
      }
  }
  if (!refusals.empty()) {
    destructive = true;
    return fail(sql::refusalMessage(refusals));
  }
  if (auto e = db.exec("COMMIT")) return fail("cannot commit migration: " + e.detail);
  for (const auto& c : config.collections) sql_[c.name] = sql::buildCollectionSql(Dialect::postgres, c);
  return true;
}

// ---------------------------------------------------------------- snapshots

// A pooled connection inside one REPEATABLE READ transaction. Records come
// through a server-side cursor, a few thousand rows at a time, so a
// collection of any size is read in bounded memory.
class PgSnapshot final : public ReadSnapshot {
 public:
  PgSnapshot(PgConnection& conn, const std::unordered_map<std::string, sql::CollectionSql>& sql)
      : conn_(conn), sql_(sql) {}
  Error count(const CollectionSpec& c, int64_t& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(sql_.at(c.name).countAll, PgParams{}, r)) return e;
    out = toInt64(PQgetvalue(r.res, 0, 0));
    return {};
  }
  Error records(const CollectionSpec& c, const std::function<bool(Record&)>& each) override {
    std::string declare = "DECLARE restd_snapshot NO SCROLL CURSOR FOR " + sql_.at(c.name).select + " ORDER BY \"id\"";
    if (auto e = conn_.exec(declare.c_str())) return e;
    Error result;
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
    Error closed = conn_.exec("CLOSE restd_snapshot");
    return result ? result : closed;
  }
  Error users(std::vector<User>& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(std::string(sql::AccountTxn::kAllUsersSql), PgParams{}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) {
      out.emplace_back();
      readUser(r.res, i, out.back());
    }
    return {};
  }
  Error apiKeys(std::vector<std::pair<ApiKey, std::string>>& out) override {
    PgResult r;
    if (auto e = conn_.runOnce(std::string(sql::AccountTxn::kAllApiKeysSql), PgParams{}, r)) return e;
    for (int i = 0; i < r.rows(); ++i) {
      PgRow row{r.res, i, {}};
      out.push_back(sql::AccountTxn::apiKeyFromRow(row));
    }
    return {};
  }
  Error tokens(const std::function<void(const StoredToken&)>& each) override {
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

Error PgStore::readSnapshot(const std::function<Error(ReadSnapshot&)>& fn) {
  // Not withConnection(): `fn` has output (an export file) that a retry
  // would repeat. A lost connection is one error.
  std::string error;
  auto c = acquire(error);
  if (!c) return Error{Status::unavailable, {}, error};
  Error e = c->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  if (!e) {
    PgSnapshot snap(*c, sql_);
    e = fn(snap);
    Error ended = c->exec(e ? "ROLLBACK" : "COMMIT");
    if (!e) e = ended;
  }
  release(std::move(c));
  return e;
}

}  // namespace restd::store
