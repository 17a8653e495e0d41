// The API: turns a complete api::Request into an api::Response.
//
// Order of checks (SPEC §10): maintenance 503; unknown path 404; method
// 405/501; Accept 406; envelope 400; token 401 (a bad token first spends
// its address's rate limit, so guessing meets 429); rate limit 429; role 403;
// record 404; body 415/400/422. This class is that pipeline (handle(),
// identity.cpp, dispatch()); the endpoints are handler units registered in
// one route table (routes.cpp), each given only what it needs, and every
// reply goes out through one ReplyWriter. Reads answer inline; writes go to
// the store's writer and answer when their commit is durable.
// Thread-safe: one Service serves every I/O thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/event_hub.h"
#include "api/handler.h"
#include "api/negotiation.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "api/settings_poller.h"
#include "api/system.h"
#include "api/validation.h"
#include "auth/authenticator.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "config/config.h"
#include "render/profile.h"
#include "store/store.h"

namespace restd::api {

class AuthEndpoints;
class ChangeFeed;
class RecordReads;
class RecordWrites;
class ReplyWriter;

class Service final : public Handler {
 public:
  // `metrics` (may be null: no /metrics) must outlive the service.
  Service(const Config& config, store::Store& store, auth::Authenticator& authenticator, Metrics* metrics = nullptr);
  // The /metrics label of each route tag (Response::routeTag) for `config`.
  static std::vector<std::string> metricRoutes(const Config& config);

  // Every route restd serves, for the router (with /metrics when it is
  // on), in the order it tries them (routes.cpp).
  static std::vector<RouteDef> routes(bool metrics);

  ~Service() override;
  // When the store blocks on the network (PostgreSQL), a request runs on
  // the I/O thread that read it until its first step that would wait on the
  // database (offLoop); from there on a pool of store.poolSize() threads
  // runs it: requests beyond the pool wait in its queue, never fail, and I/O
  // threads never wait on the database. A GET of one record whose token is
  // cached never leaves the I/O thread: its read is pipelined
  // (Store::getAsync).
  void handle(const Request& request, Respond respond) override;
  // Finishes the requests queued for the pool, stops it and the settings
  // poller (idempotent).
  void shutdown();
  Response protocolError(Reason reason, const Request& request) override;

  // One request's parsed state (call.h, private to api/); shared while a
  // write is pending. Named here so the api's units can take one.
  struct Call;
  using CallPtr = std::shared_ptr<Call>;

  // One row of the route table (routes.cpp): the path, what the request
  // pipeline must know about the endpoint, and its handlers.
  struct Endpoint {
    enum class Access {
      open,    // no identity at all (pages, probes, sign-in)
      anyone,  // the caller is identified, but anonymous is fine (GET /me)
      user,    // a signed-in user (or an anonymous read where the collection allows it)
    };
    enum class Cache {
      byCaller,   // private, no-cache with credentials; public, no-cache without
      noStore,    // sign-in and probes
      publicDay,  // static assets: the same bytes until restd is upgraded
    };
    using HandlerFn = void (*)(Service&, const CallPtr&);

    RouteId id = RouteId::index;
    bool underBase = true;               // true: below server.base_path
    std::vector<std::string> segments;   // literal, "{collection}" or "{id}"
    uint16_t methods = 0;                // those with a handler (GET implies HEAD)
    bool system = false;                 // the server's own: maintenance leaves it alone
    bool ownMediaType = false;           // one media type of its own: Accept is not negotiated
    bool fixedRepresentation = false;    // the same bytes for any Accept or envelope (Vary)
    Access access = Access::user;
    bool rateLimited = true;             // false: never limited (probes, metrics; SPEC §10)
    bool needsStorage = true;            // false: answered on the I/O thread even when the store blocks
    bool readersMayWrite = false;        // a reader may send its non-GET methods (logout)
    Cache cache = Cache::byCaller;
    HandlerFn handlers[5] = {};          // GET, POST, PUT, PATCH, DELETE
    HandlerFn getOnLoop = nullptr;       // a GET that waits on a blocking store without leaving the loop

    // `fn` answers `method` (chainable: `Endpoint(page).with(...)` on a copy).
    Endpoint& with(Method method, HandlerFn fn);
    // The handler of a request method (HEAD: GET's); null when it has none.
    HandlerFn handlerFor(std::string_view method) const;

   private:
    static size_t handlerSlot(Method m);
  };

 private:
  // The route table, one row per RouteId in its order (routes.cpp).
  static std::vector<Endpoint> endpointTable();
  // The router's routes of a table (routes()).
  static std::vector<RouteDef> routesOf(const std::vector<Endpoint>& table, bool metrics);
  const Endpoint& endpoint(RouteId id) const { return endpoints_[static_cast<size_t>(id)]; }

  void dispatch(const CallPtr& call);
  // Whether the call may not wait on the store where it runs now: the store
  // blocks and the call is still on its I/O thread.
  bool onLoop(const Call& call) const;
  // Runs `step`, the rest of the call's work, on the store's pool.
  void offLoop(const CallPtr& call, std::function<void()> step);
  // identity.cpp: who is calling and whether they may (SPEC §4, §10), then dispatch().
  void resolveIdentity(const CallPtr& call);
  void authorizeAndDispatch(const CallPtr& call);
  ErrorObject tokenMissing() const;
  // Spends one of the caller's rate-limit tokens (user, else client address);
  // false when refused, after answering 429, or when spending it would wait
  // on the store here, after moving the call's authorizeAndDispatch() to the pool.
  bool admit(const CallPtr& call);
  // Answers the call (RecordWrites::finish: an idempotent call's answer is
  // kept for retries).
  void finish(const Call& call, render::Reply reply);
  // A GET of one record without waiting on the I/O thread (Store::getAsync;
  // record_reads.cpp).
  void getRecordOnLoop(const CallPtr& call);

  const Config& config_;
  store::Store& store_;
  auth::Authenticator& auth_;
  std::vector<Endpoint> endpoints_;  // endpointTable(), indexed by RouteId
  Router router_;
  std::vector<CollectionRules> rules_;   // one per config collection, same order
  const render::Profile* defaultProfile_;
  std::unique_ptr<WorkerPool> storeWorkers_;  // only for a blocking store
  Metrics* metrics_;
  RateLimiter rateLimiter_;
  std::unique_ptr<EventHub> events_;  // the change feed's streams, woken by writes
  // Renders replies and sends them (reply_writer.h): the one place replies go out.
  std::unique_ptr<ReplyWriter> replies_;
  SettingsPoller settings_;  // maintenance (SPEC §7); after rateLimiter_, which each poll uses
  // The handler units, each given only what it needs; after what they use.
  SystemEndpoints system_;                       // probes, pages, documents, accounts (system.h)
  std::unique_ptr<RecordReads> reads_;           // GET of records and lists (record_reads.h)
  std::unique_ptr<RecordWrites> writes_;         // record writes and batches (record_writes.h)
  std::unique_ptr<ChangeFeed> feed_;             // GET /{collection}/events (change_feed.h)
  std::unique_ptr<AuthEndpoints> authEndpoints_; // /authenticate, /me, /logout (auth_endpoints.h)
};


// The owner of records created without an authenticated user.
inline constexpr std::string_view kSystemOwner = "system";

}  // namespace restd::api
