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
StatusCode statusOf(std::string_view sqlstate) {
  if (sqlstate == "23505") return StatusCode::uniqueViolation;
  if (sqlstate == "55P03") return StatusCode::unavailable;
  for (std::string_view cls : {"08", "53", "57", "40", "58"})
    if (sqlstate.starts_with(cls)) return StatusCode::unavailable;
  return StatusCode::internal;
}

// A unique violation names its constraint: "<table>__unique_<field>" (the
// indexes and constraints restd makes) or "<table>_pkey" (the id).
std::string fieldOfConstraint(std::string_view name) {
  size_t at = name.find("__unique_");
  if (at != std::string_view::npos) return std::string(name.substr(at + 9));
  return "id";
}

Status pgError(PGconn* conn, const PGresult* res) {
  Status e;
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (!state || PQstatus(conn) != CONNECTION_OK) e.code = StatusCode::unavailable;
  else e.code = statusOf(state);
  const char* msg = res ? PQresultErrorMessage(res) : nullptr;
  if (!msg || !*msg) msg = PQerrorMessage(conn);
  e.detail = "postgres: " + (state ? std::string(state) + " " : std::string()) + oneLine(msg);
  if (e.code == StatusCode::uniqueViolation) {
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


namespace pg {

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

void readUser(const PGresult* r, int i, User& u) {
  PgRow row{r, i, {}};
  u = sql::AccountTxn::userFromRow(row);
}

}  // namespace pg

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

Status PgConnection::exec(const char* sql) {
  PgResult r(PQexec(conn_, sql));
  ExecStatusType st = PQresultStatus(r.res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return pgError(conn_, r.res);
}

Status PgConnection::run(const std::string& sql, const PgParams& params, PgResult& out) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    if (prepared_.size() >= 512) {  // list queries vary with filters: keep the set bounded
      PgResult d(PQexec(conn_, "DEALLOCATE ALL"));
      prepared_.clear();
    }
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    PgResult p(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    if (PQresultStatus(p.res) != PGRES_COMMAND_OK) {
      Status e = pgError(conn_, p.res);
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

Status PgConnection::runOnce(const std::string& sql, const PgParams& params, PgResult& out) {
  out = PgResult(PQexecParams(conn_, sql.c_str(), params.count(), nullptr, params.values(), params.lengths(), nullptr, 0));
  ExecStatusType st = PQresultStatus(out.res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return {};
  return pgError(conn_, out.res);
}

Status PgConnection::run(const std::string& sql, const std::vector<SqlValue>& params, PgResult& out) {
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


bool PgStore::ready() {
  Status e = withConnection([](PgConnection& c) { return c.exec("SELECT 1"); });
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

Status readGot(const CollectionSpec& c, const PGresult* res, Record& out) {
  if (PQntuples(res) == 0) return Status{StatusCode::notFound, {}, {}};
  PgRow row{res, 0, {}};
  sql::readRecord(c, row, out);
  return {};
}

Status getRecord(PgConnection& conn, const std::string& sqlText, const CollectionSpec& c, std::string_view idOrSlug,
                SlugScope scope, Record& out) {
  PgParams p;
  getParams(c, idOrSlug, scope, p);
  PgResult r;
  if (auto e = conn.run(sqlText, p, r)) return e;
  return readGot(c, r.res, out);
}

}  // namespace pg

Status PgStore::get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) {
  return withConnection([&](PgConnection& conn) { return getRecord(conn, sqlFor(c).get, c, idOrSlug, scope, out); });
}

Status PgStore::list(const CollectionSpec& c, const ListQuery& q, ListResult& out) {
  sql::ListSql lq;
  if (auto e = sql::buildListSql(Dialect::postgres, c, sqlFor(c), q, lq)) return e;
  return withConnection([&](PgConnection& conn) -> Status {
    out = ListResult{};
    // The page and its total in one snapshot, so they agree.
    bool counted = !lq.count.empty();
    if (counted)
      if (auto e = conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) return e;
    auto finish = [&](Status e) {
      // A read-only transaction: its end changes nothing, and a connection
      // it broke is found broken by its next user.
      if (counted) (void)conn.exec(e ? "ROLLBACK" : "COMMIT");
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


}  // namespace restd::store
