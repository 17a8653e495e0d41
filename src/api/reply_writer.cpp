#include "api/reply_writer.h"

#include <charconv>
#include <chrono>

#include "api/call.h"

namespace restd::api {

using render::Reply;

namespace {

// What a browser may read of a cross-origin reply (CORS), besides the
// CORS-safelisted response headers.
constexpr std::string_view kExposedHeaders =
    "ETag, Link, Location, X-Total-Count, X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After, Idempotent-Replayed, WWW-Authenticate";
// The request headers a cross-origin client may send (preflight).
constexpr std::string_view kAllowedRequestHeaders =
    "Authorization, Content-Type, Idempotency-Key, X-Envelope, If-Match, If-None-Match, If-Modified-Since, "
    "X-Request-Id";

constexpr unsigned kFixedRoutes = static_cast<unsigned>(RouteId::collection);
constexpr unsigned kPerCollection = 3;

}  // namespace

std::vector<std::string> ReplyWriter::metricRoutes(const Config& config) {
  const std::string& b = config.server.basePath;
  std::vector<std::string> labels = {"none", "/healthz", "/readyz", "/metrics", "/docs", "/docs/errors", "/docs/assets",
                                     "/_/", "/_/assets",
                                     b.empty() ? "/" : b, b + "/authenticate", b + "/me", b + "/logout",
                                     b + "/openapi.json", b + "/_users", b + "/_apikeys"};
  for (const auto& c : config.collections) {
    labels.push_back(b + "/" + c.name);
    labels.push_back(b + "/" + c.name + "/events");
    labels.push_back(b + "/" + c.name + "/{id}");
  }
  return labels;
}

uint16_t ReplyWriter::routeTag(const Service::Call& call) const {
  if (call.match.outcome == RouteMatch::Outcome::notFound) return 0;
  auto route = static_cast<unsigned>(call.match.route);
  if (route < kFixedRoutes) return static_cast<uint16_t>(1 + route);
  if (!call.collection) return 0;
  auto index = static_cast<unsigned>(call.collection - config_.collections.data());
  return static_cast<uint16_t>(1 + kFixedRoutes + index * kPerCollection + (route - kFixedRoutes));
}

ReplyWriter::ReplyWriter(const Config& config, Metrics* metrics)
    : config_(config),
      metrics_(metrics),
      rateLimitPolicy_("\"default\";q=" + std::to_string(config.rateLimit.requestsPerMinute) + ";w=60") {}

Response ReplyWriter::render(const Service::Call& call, Reply reply) const {
  render::RenderContext ctx;
  ctx.requestId = call.request.requestId;
  ctx.now = std::chrono::system_clock::now();
  ctx.format = call.format;
  ctx.pretty = call.pretty;
  ctx.resource = call.match.resource.empty() ? call.request.path : std::string_view(call.match.resource);
  ctx.instance = call.request.path;
  ctx.docsUrl = config_.server.docsUrl;
  ctx.method = call.request.method;
  if (call.rate) ctx.rateLimit = render::RateLimitMeta{call.rate->limit, call.rate->remaining, call.rate->resetSeconds};
  render::Rendered out = render::renderReply(*call.profile, reply, ctx);

  Response res;
  res.status = reply.status;
  res.reasonPhrase = std::move(out.reasonPhrase);
  res.contentType = std::move(out.contentType);
  res.body = std::move(out.body);
  res.headers = std::move(reply.headers);
  res.conditional = reply.conditional;
  if (res.status == 415 && call.request.method == "PATCH") res.addHeader("Accept-Patch", std::string(kAcceptPatch));
  return res;
}

void ReplyWriter::send(const Service::Call& call, Response res) const {
  const Service::Endpoint* e = call.endpoint;
  res.routeTag = routeTag(call);
  if (metrics_ && res.status == 502) metrics_->add(Metrics::Counter::storageErrors);
  // The headers on every reply go into one buffer (`headerLines`), numbers
  // written in place: no string pair per header.
  std::string& h = res.headerLines;
  h.reserve(h.size() + 112 + (call.rate ? 160 + rateLimitPolicy_.size() : 0));
  if (call.rate) {
    const RateDecision& d = *call.rate;
    char n[24];
    auto num = [&](int64_t v) { return std::string_view(n, static_cast<size_t>(std::to_chars(n, n + sizeof n, v).ptr - n)); };
    h.append("X-RateLimit-Limit: ").append(num(d.limit));
    h.append("\r\nX-RateLimit-Remaining: ").append(num(d.remaining));
    h.append("\r\nX-RateLimit-Reset: ").append(num(d.resetSeconds));
    h.append("\r\nRateLimit-Policy: ").append(rateLimitPolicy_);
    h.append("\r\nRateLimit: \"default\";r=").append(num(d.remaining));
    h.append(";t=").append(num(d.resetSeconds)).append("\r\n");
  }
  // Caching (SPEC §7): what the reply depends on, and who may keep it.
  bool cors = !config_.cors.allowOrigins.empty();
  bool document = e && e->fixedRepresentation;
  if (document) h.append(cors ? "Vary: Accept-Encoding, Origin\r\n" : "Vary: Accept-Encoding\r\n");
  else h.append(cors ? "Vary: Accept, Accept-Encoding, X-Envelope, Origin\r\n" : "Vary: Accept, Accept-Encoding, X-Envelope\r\n");
  res.varies = true;
  if (e && e->cache == Service::Endpoint::Cache::noStore)
    h.append("Cache-Control: no-store\r\n");
  else if (e && e->cache == Service::Endpoint::Cache::publicDay && res.status == 200)
    h.append("Cache-Control: public, max-age=86400\r\n");  // the same bytes until restd is upgraded (ETag)
  else if (call.identity.kind != auth::Identity::Kind::anonymous || call.request.hasHeader("Authorization"))
    h.append("Cache-Control: private, no-cache\r\n");
  else
    h.append("Cache-Control: no-cache\r\n");
  if (cors) addCorsHeaders(call, res);
  call.respond(std::move(res));
}

bool ReplyWriter::originAllowed(std::string_view origin) const {
  for (const auto& o : config_.cors.allowOrigins)
    if (o == "*" || o == origin) return true;
  return false;
}

void ReplyWriter::addCorsHeaders(const Service::Call& call, Response& res) const {
  std::string_view origin = call.request.header("Origin");
  if (origin.empty() || !originAllowed(origin)) return;  // others get no CORS headers at all
  bool any = config_.cors.allowOrigins.size() == 1 && config_.cors.allowOrigins[0] == "*";
  res.addHeader("Access-Control-Allow-Origin", any ? "*" : std::string(origin));
  if (call.request.method == "OPTIONS" && call.request.hasHeader("Access-Control-Request-Method")) {
    res.addHeader("Access-Control-Allow-Methods", allowHeader(call.match.allowed));
    res.addHeader("Access-Control-Allow-Headers", std::string(kAllowedRequestHeaders));
    res.addHeader("Access-Control-Max-Age", "600");
  } else {
    res.addHeader("Access-Control-Expose-Headers", std::string(kExposedHeaders));
  }
}

}  // namespace restd::api
