#include "api/service.h"

#include <charconv>

#include "api/auth_endpoints.h"
#include "api/call.h"
#include "api/change_feed.h"
#include "api/record_reads.h"
#include "api/record_writes.h"
#include "api/reply_writer.h"
#include "common/time.h"

namespace restd::api {

using render::Format;
using render::Reply;
using render::ReplyKind;

namespace {

std::vector<std::string> collectionNames(const Config& c) {
  std::vector<std::string> names;
  for (const auto& coll : c.collections) names.push_back(coll.name);
  return names;
}

std::string_view methodOrDash(std::string_view m) { return m.empty() ? std::string_view("-") : m; }

// A path at or below base_path ("/api/v2", "/api/v2/…", "/api/v2.json").
bool underBase(std::string_view path, std::string_view base) {
  if (base.empty()) return true;
  if (!path.starts_with(base)) return false;
  return path.size() == base.size() || path[base.size()] == '/' || path[base.size()] == '.';
}

}  // namespace

std::vector<std::string> Service::metricRoutes(const Config& config) { return ReplyWriter::metricRoutes(config); }

Service::Service(const Config& config, store::Store& store, auth::Authenticator& authenticator, Metrics* metrics)
    : config_(config),
      store_(store),
      auth_(authenticator),
      endpoints_(endpointTable()),
      router_(config.server.basePath, collectionNames(config), routesOf(endpoints_, metrics != nullptr)),
      defaultProfile_(render::findProfile(config.server.envelope)),
      metrics_(metrics),
      rateLimiter_(config.rateLimit.requestsPerMinute, store),
      events_(std::make_unique<EventHub>(store, config.events, metrics)),
      replies_(std::make_unique<ReplyWriter>(config, metrics)),
      settings_(store, [this] { rateLimiter_.returnIdle(); }),
      system_(config, store, metrics, settings_.maintenance()),
      reads_(std::make_unique<RecordReads>(store)),
      writes_(std::make_unique<RecordWrites>(config, store, *replies_, *events_)),
      feed_(std::make_unique<ChangeFeed>(config.events, store, authenticator, *events_, *replies_)),
      authEndpoints_(std::make_unique<AuthEndpoints>(authenticator, *replies_)) {
  // main() refuses to start with a profile this build cannot render; the
  // fallback only protects callers that skip that check (tests).
  if (!defaultProfile_) defaultProfile_ = render::findProfile("standard");
  rules_.reserve(config.collections.size());
  for (const auto& c : config.collections) rules_.push_back(CollectionRules::compile(c));
  if (store.blocking()) storeWorkers_ = std::make_unique<WorkerPool>(std::max(1u, store.poolSize()));
  if (metrics_) {
    store.registerMetrics(*metrics_);
    metrics_->addGauge({"restd_maintenance", "1 while maintenance mode is on.", "gauge", [this] {
                          return settings_.retryAfter() >= 0 ? 1.0 : 0.0;
                        }});
  }
}

Service::~Service() { shutdown(); }

void Service::shutdown() {
  if (storeWorkers_) storeWorkers_->stop();
  if (events_) events_->shutdown();
  settings_.stop();
}

bool Service::onLoop(const Call& call) const { return storeWorkers_ && !call.offLoop; }

void Service::offLoop(const CallPtr& call, std::function<void()> step) {
  // `call->request` stays valid until its reply is sent (Handler).
  call->offLoop = true;
  storeWorkers_->post(std::move(step));
}

void Service::handle(const Request& request, Respond respond) {
  auto call = std::make_shared<Call>(request, std::move(respond));
  call->match = router_.match(request.method, request.path);
  call->profile = defaultProfile_;
  RouteMatch& m = call->match;
  if (m.outcome == RouteMatch::Outcome::found) call->endpoint = &endpoint(m.route);

  if (int64_t retryAfter = settings_.retryAfter();
      retryAfter >= 0 && !(m.outcome != RouteMatch::Outcome::notFound && endpoint(m.route).system) &&
      underBase(request.path, config_.server.basePath)) {
    Reply r = Reply::failure(ErrorObject(Reason::maintenance));
    r.header("Retry-After", std::to_string(retryAfter));
    return finish(*call, std::move(r));
  }
  if (m.outcome == RouteMatch::Outcome::notFound) return finish(*call, Reply::failure(ErrorObject(Reason::not_found)));
  if (m.outcome == RouteMatch::Outcome::notImplemented)
    return finish(*call, Reply::failure(ErrorObject(Reason::not_implemented,
                                                    "The method " + std::string(methodOrDash(request.method)) +
                                                        " is not implemented by this server.")));
  if (m.outcome == RouteMatch::Outcome::methodNotAllowed) {
    Reply r = Reply::failure(ErrorObject(Reason::method_not_allowed, "The method " + std::string(request.method) +
                                                                         " is not allowed here; use " +
                                                                         allowHeader(m.allowed) + "."));
    r.header("Allow", allowHeader(m.allowed));
    return finish(*call, std::move(r));
  }

  // Format: a .json/.xml suffix decides; otherwise the Accept header.
  // Documents and the change feed have one type of their own (EventSource
  // sends Accept: text/event-stream); their errors are JSON.
  bool isDocument = endpoint(m.route).ownMediaType;
  if (m.suffix == Suffix::json) call->format = Format::json;
  else if (m.suffix == Suffix::xml) call->format = Format::xml;
  else if (!isDocument) {
    auto f = negotiateFormat(request.header("Accept"));
    if (!f) return finish(*call, Reply::failure(ErrorObject(Reason::not_acceptable)));
    call->format = *f;
  }

  if (!parseQuery(request.query, call->query))
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_parameter,
                                                    "The query string has a malformed percent-escape.")));
  // ?pretty (or pretty=true): indented JSON or XML for people reading replies in a terminal.
  if (const std::string* p = findParam(call->query, "pretty")) {
    if (p->empty() || *p == "true" || *p == "1") call->pretty = true;
    else if (*p != "false" && *p != "0")
      return finish(*call, Reply::failure(ErrorObject(Reason::invalid_parameter,
                                                      "The parameter \"pretty\" must be true or false.")));
  }

  // Envelope: envelope= wins over X-Envelope; an unknown name is answered in the default profile.
  const std::string* envelopeParam = findParam(call->query, "envelope");
  if (envelopeParam || request.hasHeader("X-Envelope")) {
    std::string_view wanted = envelopeParam ? std::string_view(*envelopeParam) : request.header("X-Envelope");
    const render::Profile* chosen = render::findProfile(wanted);
    if (!chosen) {
      std::string names;
      for (std::string_view n : render::profileNames()) names += (names.empty() ? "" : ", ") + std::string(n);
      return finish(*call, Reply::failure(ErrorObject(Reason::unknown_envelope, "There is no envelope profile called \"" +
                                                                                    std::string(wanted) + "\"; use one of " +
                                                                                    names + ".")));
    }
    call->profile = chosen;
  }

  if (request.method == "OPTIONS") {
    Reply r;
    r.status = 204;
    r.kind = ReplyKind::empty;
    r.header("Allow", allowHeader(m.allowed));
    if (m.allowed & kPatch) r.header("Accept-Patch", std::string(kAcceptPatch));
    return finish(*call, std::move(r));
  }

  if (!m.collection.empty()) {
    for (size_t i = 0; i < config_.collections.size(); ++i)
      if (config_.collections[i].name == m.collection) {
        call->collection = &config_.collections[i];
        call->rules = &rules_[i];
      }
  }
  resolveIdentity(call);
}

void Service::dispatch(const CallPtr& call) {
  const Endpoint& e = endpoint(call->match.route);
  bool read = call->isRead();
  if (onLoop(*call)) {
    // What needs no storage, and a record's read, stay on the I/O thread.
    if (read && e.getOnLoop) return e.getOnLoop(*this, call);
    if (e.needsStorage) return offLoop(call, [this, call] { dispatch(call); });
  }
  // The router matched only methods the endpoint has a handler for.
  if (Endpoint::HandlerFn handler = e.handlerFor(call->request.method)) return handler(*this, call);
  finish(*call, Reply::failure(ErrorObject(Reason::not_found)));
}

Response Service::protocolError(Reason reason, const Request& request) {
  // A request refused before it was complete: the default profile, JSON.
  Call call(request, nullptr);
  call.profile = defaultProfile_;
  Reply reply = Reply::failure(ErrorObject(reason));
  if (reason == Reason::overloaded) reply.header("Retry-After", "1");
  return replies_->render(call, std::move(reply));
}

void Service::finish(const Call& call, Reply reply) { writes_->finish(call, std::move(reply)); }

}  // namespace restd::api
