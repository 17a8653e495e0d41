#include "api/service.h"

#include "api/call.h"
#include "common/time.h"

namespace restd::api {

using render::Format;
using render::Reply;
using render::ReplyKind;

namespace {

std::vector<RouteDef> routeTable() {
  // Only routes with a handler are listed: everything else is a plain 404.
  return {
      {RouteId::healthz, false, {"healthz"}, kGet},
      {RouteId::readyz, false, {"readyz"}, kGet},
      {RouteId::docs, false, {"docs"}, kGet},
      {RouteId::docsErrors, false, {"docs", "errors"}, kGet},
      {RouteId::index, true, {}, kGet},
      {RouteId::authenticate, true, {"authenticate"}, kPost},
      {RouteId::me, true, {"me"}, kGet},
      {RouteId::logout, true, {"logout"}, kPost},
      {RouteId::collection, true, {"{collection}"}, kGet | kPost | kPatch | kDelete},
      {RouteId::record, true, {"{collection}", "{id}"}, kGet | kPut | kPatch | kDelete},
  };
}

std::vector<std::string> collectionNames(const Config& c) {
  std::vector<std::string> names;
  for (const auto& coll : c.collections) names.push_back(coll.name);
  return names;
}

std::string_view methodOrDash(std::string_view m) { return m.empty() ? std::string_view("-") : m; }

}  // namespace

Service::Service(const Config& config, store::Store& store, auth::Authenticator& authenticator)
    : config_(config),
      store_(store),
      auth_(authenticator),
      router_(config.server.basePath, collectionNames(config), routeTable()),
      defaultProfile_(render::findProfile(config.server.envelope)),
      docsHtml_(renderDocsPage(config)),
      errorsHtml_(renderErrorReference()) {
  // main() refuses to start with a profile this build cannot render; the
  // fallback only protects callers that skip that check (tests).
  if (!defaultProfile_) defaultProfile_ = render::findProfile("standard");
  rules_.reserve(config.collections.size());
  for (const auto& c : config.collections) rules_.push_back(CollectionRules::compile(c));
  if (store.blocking()) storeWorkers_ = std::make_unique<WorkerPool>(std::max(1u, store.poolSize()));
}

Service::~Service() { shutdown(); }

void Service::shutdown() {
  if (storeWorkers_) storeWorkers_->stop();
}

void Service::handle(const http::Request& request, http::Respond respond) {
  if (storeWorkers_ && request.path != "/healthz") {
    // `request` stays valid until `respond` is called (http::Handler).
    storeWorkers_->post([this, &request, respond = std::move(respond)]() mutable { handleHere(request, std::move(respond)); });
    return;
  }
  handleHere(request, std::move(respond));
}

void Service::handleHere(const http::Request& request, http::Respond respond) {
  auto call = std::make_shared<Call>(request, std::move(respond));
  call->match = router_.match(request.method, request.path);
  call->profile = defaultProfile_;
  RouteMatch& m = call->match;

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
  bool isDocument = m.route == RouteId::docs || m.route == RouteId::docsErrors;
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

  // Envelope: envelope= wins over X-Envelope; an unknown name is answered in the default profile.
  const std::string* envelopeParam = findParam(call->query, "envelope");
  if (envelopeParam || request.hasHeader("X-Envelope")) {
    std::string_view wanted = envelopeParam ? std::string_view(*envelopeParam) : request.header("X-Envelope");
    const render::Profile* chosen = render::findProfile(wanted);
    if (!chosen)
      return finish(*call, Reply::failure(ErrorObject(Reason::unknown_envelope, "There is no envelope profile called \"" +
                                                                                    std::string(wanted) + "\".")));
    call->profile = chosen;
  }

  if (request.method == "OPTIONS") {
    Reply r;
    r.status = 204;
    r.kind = ReplyKind::empty;
    r.header("Allow", allowHeader(m.allowed));
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
  const Call& c = *call;
  std::string_view method = c.request.method;
  bool read = method == "GET" || method == "HEAD";
  switch (c.match.route) {
    case RouteId::healthz: return finish(c, healthz());
    case RouteId::readyz: return finish(c, readyz());
    case RouteId::docs: return finish(c, Reply::document(200, "text/html; charset=utf-8", docsHtml_));
    case RouteId::docsErrors: return finish(c, Reply::document(200, "text/html; charset=utf-8", errorsHtml_));
    case RouteId::index: return finish(c, index());
    case RouteId::authenticate: return authenticate(call);
    case RouteId::me: return finish(c, me(c));
    case RouteId::logout: return logout(call);
    case RouteId::collection:
      if (read) return finish(c, listRecords(c));
      if (method == "POST") return createRecords(call);
      if (method == "PATCH") return patchRecords(call);
      return deleteRecords(call);
    case RouteId::record:
      if (read) return finish(c, getRecord(c));
      if (method == "PUT") return replaceRecord(call);
      if (method == "PATCH") return patchRecord(call);
      return deleteRecord(call);
    default: break;
  }
  finish(c, Reply::failure(ErrorObject(Reason::not_found)));
}

http::Response Service::protocolError(Reason reason, const http::Request& request) {
  // A request refused before it was complete: the default profile, JSON.
  Call call(request, nullptr);
  call.profile = defaultProfile_;
  Reply reply = Reply::failure(ErrorObject(reason));
  if (reason == Reason::overloaded) reply.header("Retry-After", "1");
  return toWire(call, std::move(reply));
}

void Service::finish(const Call& call, Reply reply) const { call.respond(toWire(call, std::move(reply))); }

http::Response Service::toWire(const Call& call, Reply reply) const {
  render::RenderContext ctx;
  ctx.requestId = call.request.requestId;
  ctx.now = std::chrono::system_clock::now();
  ctx.format = call.format;
  ctx.resource = call.match.resource.empty() ? call.request.path : std::string_view(call.match.resource);
  ctx.instance = call.request.path;
  ctx.docsUrl = config_.server.docsUrl;
  ctx.method = call.request.method;
  render::Rendered out = render::renderReply(*call.profile, reply, ctx);

  http::Response res;
  res.status = reply.status;
  res.reasonPhrase = std::move(out.reasonPhrase);
  res.contentType = std::move(out.contentType);
  res.body = std::move(out.body);
  res.headers = std::move(reply.headers);
  return res;
}

}  // namespace restd::api
