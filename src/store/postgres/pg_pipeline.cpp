#include "store/postgres/pg_pipeline.h"

#include <poll.h>

#include <cstdio>
#include <thread>

#include "store/postgres/pg_support.h"

namespace restd::store {

using namespace pg;

namespace {

int64_t steadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether the socket has bytes now (the watch's waits see only what arrives
// after they start).
bool readableNow(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// A failed statement that says the connection is over: it is lost, or the
// server ends the session (57P01 admin shutdown, 57P02 crash shutdown,
// 57P03 cannot connect now).
bool connectionEnds(PGconn* c, const PGresult* res) {
  if (PQstatus(c) != CONNECTION_OK) return true;
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return !state || std::string_view(state).starts_with("57P0") || std::string_view(state).starts_with("08");
}

}  // namespace

PgPipeline::PgPipeline(EventLoop& loop, Setup setup) : loop_(loop), setup_(std::move(setup)) {
  for (size_t i = 0; i < setup_.statements.size(); ++i) names_.emplace(setup_.statements[i].first, "g" + std::to_string(i));
  storageThread_.post([this] { reopen(); });
}

PgPipeline::~PgPipeline() {
  stopping_ = true;
  storageThread_.stop();
  std::lock_guard lock(mutex_);
  watch_.reset();
  openedWatch_.reset();
}

bool PgPipeline::get(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, GetDone& done) {
  auto name = names_.find(c.name);
  if (name == names_.end()) return false;
  if (int64_t oldest = oldestSent_.load(std::memory_order_relaxed);
      oldest != 0 && steadyNanos() - oldest > std::chrono::nanoseconds(kStallAfter).count())
    return false;
  std::lock_guard lock(mutex_);
  if (!watch_) return false;  // not connected (yet, or again)
  incoming_.push_back(Entry{&c, &name->second, std::string(idOrSlug), std::string(scope.owner), scope.anyOwner,
                            std::move(done)});
  if (!flushPosted_) {
    flushPosted_ = true;
    watch_->post([this] { flush(); });
  }
  return true;
}

// ---------------------------------------------------------------- storage thread

void PgPipeline::reopen() {
  while (!stopping_) {
    std::string error;
    auto conn = setup_.open(error);
    bool ok = conn != nullptr;
    for (size_t i = 0; ok && i < setup_.statements.size(); ++i) {
      PgResult p(PQprepare(conn->raw(), names_.at(setup_.statements[i].first).c_str(),
                           setup_.statements[i].second.c_str(), 0, nullptr));
      ok = PQresultStatus(p.res) == PGRES_COMMAND_OK;
    }
    if (ok) ok = PQenterPipelineMode(conn->raw()) == 1 && PQsetnonblocking(conn->raw(), 1) == 0;
    if (ok) {
      auto watch = loop_.watch(PQsocket(conn->raw()));
      std::lock_guard lock(mutex_);
      opened_ = std::move(conn);
      openedWatch_ = std::move(watch);
      openedWatch_->post([this] { install(); });
      return;
    }
    // PostgreSQL is away: reads take the pool meanwhile (and answer 502
    // there); try again shortly.
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void PgPipeline::redo(Entry e) {
  redone_.fetch_add(1, std::memory_order_relaxed);
  storageThread_.post([this, e = std::make_shared<Entry>(std::move(e))] {
    Record r;
    Status err = setup_.get(*e->collection, e->key, r, SlugScope{e->owner, e->anyOwner});
    e->done(std::move(err), r);
  });
}

// ---------------------------------------------------------------- the watch's sequence

void PgPipeline::install() {
  {
    std::lock_guard lock(mutex_);
    conn_ = std::move(opened_);
    watch_ = std::move(openedWatch_);
  }
  writeArmed_ = false;
  onReadable();  // arms the first wait
}

void PgPipeline::flush() {
  {
    std::lock_guard lock(mutex_);
    batch_.swap(incoming_);
    flushPosted_ = false;
  }
  if (!conn_) {
    for (auto& e : batch_) redo(std::move(e));
    batch_.clear();
    return;
  }
  PGconn* c = conn_->raw();
  PgParams p;
  size_t sentNow = 0;
  for (auto& e : batch_) {
    p.clear();
    getParams(*e.collection, e.key, SlugScope{e.owner, e.anyOwner}, p);
    if (!PQsendQueryPrepared(c, e.statement->c_str(), p.count(), p.values(), p.lengths(), nullptr, 0)) break;
    sent_.push_back(std::move(e));
    ++sentNow;
  }
  if (sentNow < batch_.size() || !PQpipelineSync(c)) {
    for (size_t i = sentNow; i < batch_.size(); ++i) redo(std::move(batch_[i]));
    batch_.clear();
    return lose("cannot send");
  }
  batch_.clear();
  int64_t now = steadyNanos();
  syncs_.push_back(now);
  if (syncs_.size() == 1) oldestSent_.store(now, std::memory_order_relaxed);
  sendOut();
}

void PgPipeline::sendOut() {
  if (!conn_) return;
  int f = PQflush(conn_->raw());
  if (f < 0) return lose("cannot send");
  if (f == 0 || writeArmed_) return;
  // The kernel's buffer is full: wait first, then try once more, so that
  // room made in between is not missed.
  writeArmed_ = true;
  watch_->whenWritable([this] {
    writeArmed_ = false;
    sendOut();
  });
  if (PQflush(conn_->raw()) < 0) lose("cannot send");
}

void PgPipeline::onReadable() {
  if (!conn_) return;
  // Always one wait started before reading, so bytes that arrive while we
  // read start the next turn: a lost connection is noticed even when idle.
  watch_->whenReadable([this] { onReadable(); });
  int fd = PQsocket(conn_->raw());
  do {
    if (!PQconsumeInput(conn_->raw())) return lose("connection lost");
    readResults();
    if (!conn_) return;
  } while (readableNow(fd));
  // Reading may have found the connection closed after its last reply.
  if (PQstatus(conn_->raw()) != CONNECTION_OK) lose("connection lost");
}

void PgPipeline::readResults() {
  PGconn* c = conn_->raw();
  int nulls = 0;  // a NULL ends each statement's results; two in a row: nothing more yet
  while (conn_ && !PQisBusy(c)) {
    PGresult* raw = PQgetResult(c);
    if (!raw) {
      if (++nulls == 2) break;
      continue;
    }
    nulls = 0;
    PgResult res(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_PIPELINE_SYNC) {
      if (!syncs_.empty()) syncs_.pop_front();
      oldestSent_.store(syncs_.empty() ? 0 : syncs_.front(), std::memory_order_relaxed);
      continue;
    }
    if (sent_.empty()) continue;  // nothing asked for this: ignore it
    Entry e = std::move(sent_.front());
    sent_.pop_front();
    if (st == PGRES_PIPELINE_ABORTED) {
      redo(std::move(e));  // not its own failure: an earlier statement of its batch failed
      continue;
    }
    if (st != PGRES_TUPLES_OK && connectionEnds(c, raw)) {
      // The server is going away (a restart): like get(), which tries a lost
      // connection's read once more on a new one, this read is redone.
      redo(std::move(e));
      return lose("connection closed by the server");
    }
    Record r;
    Status err = st == PGRES_TUPLES_OK ? readGot(*e.collection, raw, r) : pgError(c, raw);
    answered_.fetch_add(1, std::memory_order_relaxed);
    e.done(std::move(err), r);
  }
}

void PgPipeline::lose(const char* why) {
  if (!conn_) return;
  if (!stopping_)
    std::fprintf(stderr, "restd: storage: pipelined reads: %s (%s); they take the pool until it reconnects\n", why,
                 oneLine(PQerrorMessage(conn_->raw())).c_str());
  for (auto& e : sent_) redo(std::move(e));
  sent_.clear();
  syncs_.clear();
  oldestSent_.store(0, std::memory_order_relaxed);
  std::unique_ptr<FdWatch> gone;
  {
    std::lock_guard lock(mutex_);
    gone = std::move(watch_);  // get() says no from here on
    for (auto& e : incoming_) redo(std::move(e));
    incoming_.clear();
  }
  gone.reset();  // before the connection closes the socket it watches
  conn_.reset();
  if (!stopping_) storageThread_.post([this] { reopen(); });
}

}  // namespace restd::store
