#include "api/service.h"

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
  };
}

std::vector<std::string> collectionNames(const Config& c) {
  std::vector<std::string> names;
  for (const auto& coll : c.collections) names.push_back(coll.name);
  return names;
}

std::string_view methodOrDash(std::string_view m) { return m.empty() ? std::string_view("-") : m; }

}  // namespace

struct Service::Call {
  const http::Request& request;
  RouteMatch match;
  QueryParams query;
};

Service::Service(const Config& config, store::Store& store)
    : config_(config),
      store_(store),
      router_(config.server.basePath, collectionNames(config), routeTable()),
      defaultProfile_(render::findProfile(config.server.envelope)),
      docsHtml_(renderDocsPage(config)),
      errorsHtml_(renderErrorReference()) {
  // main() refuses to start with a profile this build cannot render; the
  // fallback only protects callers that skip that check (tests).
  if (!defaultProfile_) defaultProfile_ = render::findProfile("standard");
}

http::Response Service::handle(const http::Request& request) {
  Call call{request, router_.match(request.method, request.path), {}};
  RouteMatch& m = call.match;
  const render::Profile* profile = defaultProfile_;

  if (m.outcome == RouteMatch::Outcome::notFound) {
    ErrorObject e(Reason::not_found);
    return toWire(Reply::failure(std::move(e)), request, *profile, Format::json, request.path);
  }
  if (m.outcome == RouteMatch::Outcome::notImplemented) {
    ErrorObject e(Reason::not_implemented,
                  "The method " + std::string(methodOrDash(request.method)) + " is not implemented by this server.");
    return toWire(Reply::failure(std::move(e)), request, *profile, Format::json, m.resource);
  }
  if (m.outcome == RouteMatch::Outcome::methodNotAllowed) {
    ErrorObject e(Reason::method_not_allowed,
                  "The method " + std::string(request.method) + " is not allowed here; use " + allowHeader(m.allowed) + ".");
    Reply r = Reply::failure(std::move(e));
    r.header("Allow", allowHeader(m.allowed));
    return toWire(std::move(r), request, *profile, Format::json, m.resource);
  }

  // Format: a .json/.xml suffix decides; otherwise the Accept header.
  Format format = Format::json;
  bool isDocument = m.route == RouteId::docs || m.route == RouteId::docsErrors;
  if (m.suffix == Suffix::json) format = Format::json;
  else if (m.suffix == Suffix::xml) format = Format::xml;
  else if (!isDocument) {
    auto f = negotiateFormat(request.header("Accept"));
    if (!f) return toWire(Reply::failure(ErrorObject(Reason::not_acceptable)), request, *profile, Format::json, m.resource);
    format = *f;
  }

  if (!parseQuery(request.query, call.query)) {
    ErrorObject e(Reason::invalid_parameter, "The query string has a malformed percent-escape.");
    return toWire(Reply::failure(std::move(e)), request, *profile, format, m.resource);
  }

  // Envelope: envelope= wins over X-Envelope; an unknown name is answered in the default profile.
  const std::string* envelopeParam = findParam(call.query, "envelope");
  if (envelopeParam || request.hasHeader("X-Envelope")) {
    std::string_view wanted = envelopeParam ? std::string_view(*envelopeParam) : request.header("X-Envelope");
    const render::Profile* chosen = render::findProfile(wanted);
    if (!chosen) {
      ErrorObject e(Reason::unknown_envelope, "There is no envelope profile called \"" + std::string(wanted) + "\".");
      return toWire(Reply::failure(std::move(e)), request, *profile, format, m.resource);
    }
    profile = chosen;
  }

  if (request.method == "OPTIONS") {
    Reply r;
    r.status = 204;
    r.kind = ReplyKind::empty;
    r.header("Allow", allowHeader(m.allowed));
    return toWire(std::move(r), request, *profile, format, m.resource);
  }

  Reply reply = dispatch(call);
  return toWire(std::move(reply), request, *profile, format, m.resource);
}

Reply Service::dispatch(Call& call) {
  switch (call.match.route) {
    case RouteId::healthz: return healthz();
    case RouteId::readyz: return readyz();
    case RouteId::docs: return Reply::document(200, "text/html; charset=utf-8", docsHtml_);
    case RouteId::docsErrors: return Reply::document(200, "text/html; charset=utf-8", errorsHtml_);
    case RouteId::index: return index(call);
    default: break;
  }
  return Reply::failure(ErrorObject(Reason::not_found));
}

Reply Service::healthz() const {
  Reply r;
  r.data.SetObject();
  r.data.AddMember("status", "ok", r.data.GetAllocator());
  return r;
}

Reply Service::readyz() const {
  Reply r;
  bool ok = store_.ready();
  r.status = ok ? 200 : 503;
  auto& a = r.data.GetAllocator();
  r.data.SetObject();
  r.data.AddMember("status", rapidjson::StringRef(ok ? "ready" : "unavailable"), a);
  r.data.AddMember("storage", rapidjson::StringRef(ok ? "reachable" : "unreachable"), a);
  if (!ok) r.header("Retry-After", "5");
  return r;
}

Reply Service::index(const Call&) const {
  Reply r;
  auto& a = r.data.GetAllocator();
  const std::string& base = config_.server.basePath;
  auto str = [&](const std::string& s) { return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a); };
  r.data.SetObject();
  r.data.AddMember("name", "restd", a);
  r.data.AddMember("version", rapidjson::Value(RESTD_VERSION), a);
  rapidjson::Value collections(rapidjson::kArrayType);
  for (const auto& c : config_.collections) {
    rapidjson::Value item(rapidjson::kObjectType);
    item.AddMember("name", str(c.name), a);
    item.AddMember("singular", str(c.singular), a);
    item.AddMember("url", str(base + "/" + c.name), a);
    rapidjson::Value fields(rapidjson::kArrayType);
    for (const auto& f : c.fields) {
      rapidjson::Value fv(rapidjson::kObjectType);
      fv.AddMember("name", str(f.name), a);
      fv.AddMember("type", rapidjson::Value(std::string(fieldTypeName(f.type)).c_str(), a), a);
      fv.AddMember("required", f.required, a);
      fields.PushBack(fv, a);
    }
    item.AddMember("fields", fields, a);
    collections.PushBack(item, a);
  }
  r.data.AddMember("collections", collections, a);
  rapidjson::Value links(rapidjson::kObjectType);
  links.AddMember("self", str(base.empty() ? std::string("/") : base), a);
  links.AddMember("docs", str("/docs"), a);
  links.AddMember("errors", str("/docs/errors"), a);
  links.AddMember("health", str("/healthz"), a);
  links.AddMember("ready", str("/readyz"), a);
  r.data.AddMember("links", links, a);
  return r;
}

http::Response Service::protocolError(Reason reason, const http::Request& request) {
  Reply r = Reply::failure(ErrorObject(reason));
  if (reason == Reason::overloaded) r.header("Retry-After", "1");
  return toWire(std::move(r), request, *defaultProfile_, Format::json, request.path);
}

http::Response Service::toWire(Reply reply, const http::Request& request, const render::Profile& profile,
                               Format format, std::string_view resource) const {
  render::RenderContext ctx;
  ctx.requestId = request.requestId;
  ctx.now = std::chrono::system_clock::now();
  ctx.format = format;
  ctx.resource = resource;
  ctx.instance = request.path;
  ctx.docsUrl = config_.server.docsUrl;
  render::Rendered out = render::renderReply(profile, reply, ctx);

  http::Response res;
  res.status = reply.status;
  res.reasonPhrase = std::move(out.reasonPhrase);
  res.contentType = std::move(out.contentType);
  res.body = std::move(out.body);
  res.headers = std::move(reply.headers);
  return res;
}

}  // namespace restd::api
