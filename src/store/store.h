// The storage interface. Handlers talk to a Store; SQL lives only in its
// implementations (store/sqlite/, later store/postgres/).
//
// Records travel as JSON values (RapidJSON) in every layer. Reads are
// synchronous: cheap in SQLite (pooled connections in a shared snapshot);
// in PostgreSQL they wait on the network, so blocking() says to call them
// off the I/O threads, except getAsync(), which reads one record without
// blocking anyone (pipelined on the I/O threads' event loop).
// Writes are jobs run by one writer in shared transactions (group commit):
// submitWrite() returns at once and calls `done` after the commit is durable.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/event_loop.h"
#include "common/metrics.h"
#include "common/status.h"
#include "config/config.h"

namespace restd::store {

struct Record {
  std::string id;
  std::optional<std::string> slug;   // set when the collection has slug_from
  int64_t createdAt = 0;             // Unix milliseconds
  int64_t updatedAt = 0;
  int64_t version = 0;
  std::string owner;
  // The pool behind `values`: declared first, so it is made before and
  // destroyed after them, and moves with them. RapidJSON's own default
  // starts every document with a 64 KiB chunk; for thousands of small
  // records that made glibc consolidate its free lists on every allocation
  // (about a third of a 1000-record batch). Null when the values live in a
  // pool shared with other records (Record(shared)).
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> pool = std::make_unique<rapidjson::MemoryPoolAllocator<>>(960);
  // Declared fields (every one, null when unset) then extras, as one object.
  rapidjson::Document values{rapidjson::kObjectType, pool.get()};

  Record() = default;
  // Values in a pool shared with other records (a list page's, see
  // ListResult): `shared` must outlive them.
  explicit Record(rapidjson::MemoryPoolAllocator<>& shared) : pool(nullptr), values(rapidjson::kObjectType, &shared) {}
};

using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

enum class FilterOp { eq, ne, gt, gte, lt, lte, in, like };

struct Filter {
  std::string column;              // a declared field or system field (validated by the caller)
  FilterOp op = FilterOp::eq;
  std::vector<SqlValue> values;    // one, or several for `in`; `like` takes SPEC §10's pattern (`*` any run, `\*` a star)
};

struct SortKey {
  std::string column;
  bool descending = false;
};

struct ListQuery {
  std::vector<Filter> filters;
  std::vector<SortKey> sort;                  // ties are broken by id in the last key's direction
  int64_t limit = 20;                         // rows wanted; the store fetches one more to tell hasMore
  int64_t offset = 0;                         // page mode
  std::optional<std::vector<SqlValue>> after; // keyset mode: sort-key values then id of the last row seen
  bool count = true;                          // compute the total (page mode)
  std::optional<std::string> owner;           // only this owner's records (visibility = owner)
};

struct ListResult {
  // The page's records keep their values here (records.emplace_back(*pool)):
  // one pool for the page instead of one per record, handed on whole to the
  // reply, which then takes the values without copying them.
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> pool = std::make_unique<rapidjson::MemoryPoolAllocator<>>(16 * 1024);
  std::vector<Record> records;
  std::optional<int64_t> total;
  bool hasMore = false;
};

struct User {
  std::string id;            // "user_…"
  std::string userName;
  std::string role;          // "admin", "writer" or "reader"
  std::string passwordHash;  // argon2id, libsodium's string format
  int64_t createdAt = 0;
};

struct ApiKey {
  std::string label;
  std::string prefix;        // first 6 characters of the key, for people
  int64_t createdAt = 0;
};

// A valid token and who it belongs to.
struct TokenOwner {
  std::string userId;
  std::string userName;
  std::string role;
  std::string apiKeyLabel;
  int64_t expiresAt = 0;
};

// A reply kept for an Idempotency-Key (SPEC §5), replayed byte for byte.
struct StoredReply {
  std::string requestHash;   // what the request was: a retry must match it
  int status = 0;
  std::string contentType;
  std::string headers;       // JSON object of the reply's own headers (Location, ETag, …)
  std::string body;
  int64_t createdAt = 0;
};

// Whose records a slug may name in an owner-visibility collection: `owner`'s
// only, or (anyOwner, for admins) anyone's with `owner`'s own first. Ignored
// in public collections, where a slug is unique in the whole collection.
struct SlugScope {
  std::string_view owner;
  bool anyOwner = true;
};

// One entry of the change feed's log (SPEC §10 "Events"), written in the
// transaction of the change it describes. `seq` is given by the storage and
// increases in commit order (on PostgreSQL every node's writer takes one lock
// for its transaction, so no later commit gets a smaller seq).
struct StoredEvent {
  int64_t seq = 0;
  std::string collection;
  std::string kind;      // "created", "updated" or "deleted"
  std::string recordId;
  std::string owner;     // the record's owner, for owner-visibility collections
  std::string data;      // the record as the standard profile renders it (JSON text)
  int64_t at = 0;        // Unix milliseconds
};

// The answer to a getAsync(): what get() would have returned, and the record
// (only when the error is ok), which `done` may take apart (its values and
// pool move into the reply): a store hands each call a record of its own.
using GetDone = std::function<void(Status, Record&)>;

// What a write job may do inside the shared transaction.
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;
  // Users, API keys and tokens. Keys and tokens are stored only as hashes.
  virtual Status addUser(const User& u) = 0;                 // uniqueViolation on a taken userName
  virtual Status removeUser(std::string_view userName) = 0;  // and its tokens
  virtual Status setPassword(std::string_view userName, std::string_view hash) = 0;  // and revokes its tokens
  virtual Status addApiKey(const ApiKey& k, std::string_view keyHash) = 0;  // uniqueViolation on a taken label
  virtual Status revokeApiKey(std::string_view label) = 0;   // and every token issued under it
  virtual Status addToken(std::string_view tokenHash, std::string_view userId, std::string_view apiKeyLabel,
                         int64_t expiresAt) = 0;
  virtual Status revokeToken(std::string_view tokenHash) = 0;
  // Idempotency keys, per user. `get` ignores replies older than `notBefore`.
  virtual Status getStoredReply(std::string_view userId, std::string_view key, int64_t notBefore, StoredReply& out) = 0;
  virtual Status putStoredReply(std::string_view userId, std::string_view key, const StoredReply& reply) = 0;
  // Login failures per key (a user name or a client address) for the
  // lock-out. Adding one forgets that key's failures before `forgetBefore`,
  // and a bounded number of anyone's, so the table stays small.
  virtual Status addLoginFailure(std::string_view key, int64_t atMs, int64_t forgetBefore) = 0;
  virtual Status clearLoginFailures(std::string_view key) = 0;
  // The change feed's log. `e.seq` is ignored (the storage numbers events).
  // Taken by value: a job hands its events over, and they are moved to the
  // statement that writes them.
  virtual Status appendEvent(StoredEvent e) = 0;
  // Forgets events older than `beforeMs`, but never the newest one (so the
  // newest seq stays known).
  virtual Status pruneEvents(int64_t beforeMs) = 0;
  // Server-wide settings every node reads (the maintenance flag): `value`
  // replaces the key's value; nullopt removes the key.
  virtual Status putSetting(std::string_view key, const std::optional<std::string>& value) = 0;

  // Runs `fn` in a nested savepoint: its changes are undone when it returns
  // false, and the job's other changes stay (an idempotent request's failed
  // answer is kept while its writes are not).
  virtual Status nested(const std::function<bool()>& fn) = 0;

  virtual Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) = 0;
  virtual Status insert(const CollectionSpec& c, const Record& r) = 0;
  // Inserts each of `records` as insert() would, in order, setting errors[i]
  // for each (a unique violation fails only that record). An engine may do
  // it in fewer statements; the result is the same as one insert() per record.
  virtual void insertMany(const CollectionSpec& c, const std::vector<const Record*>& records, std::vector<Status>& errors) {
    errors.resize(records.size());
    for (size_t i = 0; i < records.size(); ++i) errors[i] = insert(c, *records[i]);
  }
  virtual Status update(const CollectionSpec& c, const Record& r) = 0;  // by r.id
  virtual Status remove(const CollectionSpec& c, std::string_view id) = 0;
  // Sets `taken` when a record of `c` has this slug: in an owner-visibility
  // collection only `owner`'s records count (slugs are unique per owner).
  virtual Status slugTaken(const CollectionSpec& c, std::string_view owner, std::string_view slug, bool& taken) = 0;
  // For a job about to choose many slugs in `c` (an import), called before
  // it writes anything: an engine that locks each slug candidate against
  // other nodes may lock all of `c`'s slugs once instead, until the
  // transaction ends, so the number of locks held stays bounded. Other
  // writers choosing slugs in `c` then wait for this transaction.
  virtual Status reserveSlugs(const CollectionSpec& c) {
    (void)c;
    return {};
  }
  // slugTaken() for many candidates at once, each an (owner, slug) pair
  // (the owner counts only in owner-visibility collections): `taken[i]`
  // says whether candidate i is. An engine may answer in one statement once
  // the job has reserved c's slugs.
  virtual Status slugsTaken(const CollectionSpec& c, const std::vector<std::pair<std::string, std::string>>& candidates,
                           std::vector<bool>& taken) {
    taken.assign(candidates.size(), false);
    for (size_t i = 0; i < candidates.size(); ++i) {
      bool t = false;
      if (auto e = slugTaken(c, candidates[i].first, candidates[i].second, t)) return e;
      taken[i] = t;
    }
    return {};
  }
};

// A token as the storage keeps it (only its hash), for backups.
struct StoredToken {
  std::string tokenHash;
  std::string userId;
  std::string apiKeyLabel;
  int64_t expiresAt = 0;
};

// One read transaction over the whole storage: everything read through it
// is the same instant, whatever commits meanwhile (export, backup). Valid
// only inside Store::readSnapshot's callback, on one thread at a time.
class ReadSnapshot {
 public:
  virtual ~ReadSnapshot() = default;
  virtual Status count(const CollectionSpec& c, int64_t& out) = 0;
  // Every record of `c` in id order (creation order), a bounded number in
  // memory at a time; stops early, without an error, when `each` returns false.
  virtual Status records(const CollectionSpec& c, const std::function<bool(Record&)>& each) = 0;
  virtual Status users(std::vector<User>& out) = 0;  // with their password hashes
  virtual Status apiKeys(std::vector<std::pair<ApiKey, std::string>>& out) = 0;  // each with its key hash
  virtual Status tokens(const std::function<void(const StoredToken&)>& each) = 0;
};

// How far a long copy has come, for a progress bar. `total` is 0 when unknown.
struct CopyProgress {
  int64_t done = 0;
  int64_t total = 0;
  int64_t bytes = 0;
  const char* unit = "records";
};
// Called now and then during a copy; returning false stops it (Ctrl-C),
// with an Error whose detail is kInterruptedDetail.
using ProgressFn = std::function<bool(const CopyProgress&)>;
inline constexpr std::string_view kInterruptedDetail = "interrupted";
inline bool wasInterrupted(const Status& e) { return e && e.detail == kInterruptedDetail; }

// Tokens taken from a shared rate-limit bucket (see Store::takeRateTokens).
struct RateGrant {
  int64_t granted = 0;  // tokens now the caller's to spend
  double left = 0;      // what the bucket holds after the grant
};

// A job returns false to undo its own changes (the others in the group stay).
using WriteJob = std::function<bool(WriteTxn&)>;
// Called once, on the writer thread, after the group's commit: `committed`
// is false when the commit (or the storage) failed and nothing was saved.
using WriteDone = std::function<void(bool committed)>;

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string_view engine() const = 0;
  // True when calls wait on the network (PostgreSQL): callers on I/O threads
  // must hand them to other threads, at most poolSize() at a time.
  virtual bool blocking() const { return false; }
  virtual unsigned poolSize() const { return 0; }
  // True when the storage can serve reads and writes right now (/readyz).
  virtual bool ready() = 0;

  // Creates and updates tables for the configured collections. Refuses to
  // drop or retype a column unless `allowDestructive`; then returns false,
  // sets `destructive` and names collection and field in `error`.
  virtual bool migrate(const Config& config, bool allowDestructive, bool& destructive, std::string& error) = 0;

  // By id, or by slug within `scope` (SPEC §4: in owner collections slugs
  // are unique per owner, so a slug names the viewer's record).
  virtual Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out, SlugScope scope) = 0;
  // get() without blocking the calling thread. Returns false at once, and
  // keeps `done`, when it cannot be done that way now (no event loop
  // attached, the connection is being reopened, or reads are held up
  // behind a slow one); the caller then uses get(). Otherwise calls `done`
  // exactly once, later, from an I/O thread or a storage thread.
  virtual bool getAsync(const CollectionSpec& c, std::string_view idOrSlug, SlugScope scope, GetDone& done) {
    (void)c, (void)idOrSlug, (void)scope, (void)done;
    return false;
  }
  // The server's event loop, for getAsync(): attached once before serving,
  // detached once the loop has stopped and before it is destroyed.
  virtual void attachLoop(EventLoop& loop) { (void)loop; }
  virtual void detachLoop() {}
  Status get(const CollectionSpec& c, std::string_view idOrSlug, Record& out) { return get(c, idOrSlug, out, {}); }
  virtual Status list(const CollectionSpec& c, const ListQuery& q, ListResult& out) = 0;
  virtual void submitWrite(WriteJob job, WriteDone done) = 0;
  // submitWrite, waiting for the commit (command-line tools; never on an I/O thread).
  bool runWrite(WriteJob job);

  virtual Status findUser(std::string_view userName, User& out) = 0;
  virtual Status listUsers(std::vector<User>& out) = 0;
  virtual Status findApiKey(std::string_view keyHash, ApiKey& out) = 0;   // not revoked
  virtual Status listApiKeys(std::vector<ApiKey>& out) = 0;                // not revoked, oldest first
  // The owner of an unrevoked, unexpired token (notFound otherwise).
  virtual Status findToken(std::string_view tokenHash, int64_t nowMillis, TokenOwner& out) = 0;
  // findToken()'s answer when it can be given from memory, without the
  // storage (a cache exact across nodes); false when it cannot.
  virtual bool cachedToken(std::string_view tokenHash, int64_t nowMillis, TokenOwner& out) {
    (void)tokenHash, (void)nowMillis, (void)out;
    return false;
  }
  // The times of `key`'s login failures since `sinceMs`, oldest first (read fresh).
  virtual Status loginFailures(std::string_view key, int64_t sinceMs, std::vector<int64_t>& out) = 0;
  // Up to `limit` events with seq > `after`, in seq order (read fresh).
  virtual Status readEvents(int64_t after, int64_t limit, std::vector<StoredEvent>& out) = 0;
  // The smallest and largest seq in the log; both 0 when it is empty.
  virtual Status eventBounds(int64_t& oldest, int64_t& newest) = 0;
  // `wake` is called (from a thread of the store's) soon after another node
  // committed events, when the engine can tell (PostgreSQL NOTIFY); callers
  // poll for what it cannot. Set once, before serving.
  virtual void onForeignEvents(std::function<void()> wake) { (void)wake; }

  // Runs `fn` inside one read transaction (see ReadSnapshot) and returns
  // what it returns, or the error that kept the transaction from starting.
  virtual Status readSnapshot(const std::function<Status(ReadSnapshot&)>& fn) = 0;

  // Writes a consistent copy of everything (collections, users, API keys,
  // tokens) into a new SQLite database file at `path`, while writes go on
  // (SPEC §10 `backup`). Never leaves a partial file at `path`: the copy is
  // written beside it and renamed when complete. An existing `path` is
  // refused unless `overwrite`. Status::unavailable names a path that cannot
  // be written; a `progress` that returns false stops the copy (see
  // wasInterrupted).
  Status backup(const Config& config, const std::string& path, bool overwrite, const ProgressFn& progress);

  // A server-wide setting (WriteTxn::putSetting), read fresh: nullopt when unset.
  virtual Status readSetting(std::string_view key, std::optional<std::string>& out) = 0;

  // Rate-limit buckets shared by every node on this storage (SPEC §9). When
  // sharesRateLimits() is false the buckets are the caller's own (one
  // process owns the storage) and the two calls below are not used.
  virtual bool sharesRateLimits() const { return false; }
  // Refills `key`'s bucket (`capacity` tokens, `perSecond` refill, by the
  // storage's clock) and takes up to `want` whole tokens from it, in one
  // atomic step: nodes never together take more than the bucket holds.
  virtual Status takeRateTokens(std::string_view key, double capacity, double perSecond, int64_t want,
                               RateGrant& out) {
    (void)key, (void)capacity, (void)perSecond, (void)want, (void)out;
    return {StatusCode::internal, {}, "this storage has no shared rate limits"};
  }
  // Gives back `n` tokens taken but not spent (never above `capacity`).
  virtual Status returnRateTokens(std::string_view key, double capacity, int64_t n) {
    (void)key, (void)capacity, (void)n;
    return {StatusCode::internal, {}, "this storage has no shared rate limits"};
  }

  // Adds the engine's gauges (write queue, commit groups, pool) to /metrics.
  virtual void registerMetrics(Metrics& m) const = 0;

  // Finishes queued writes and stops the writer (idempotent).
  virtual void close() = 0;

 protected:
  // backup()'s copy into `path`, a new file: by default everything read
  // through one ReadSnapshot is written into a new SQLite database; SQLite
  // overrides it with its online backup of the file itself.
  virtual Status copyInto(const Config& config, const std::string& path, const ProgressFn& progress);
};

// Opens the storage named by config.storage.url. On failure returns nullptr
// and sets `error` to one line for the operator.
std::unique_ptr<Store> openStore(const Config& config, std::string& error);

}  // namespace restd::store
