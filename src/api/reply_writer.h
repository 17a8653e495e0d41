// How a reply goes out, in one place: render() lays a render::Reply out in
// the call's envelope profile and format (handlers never build wire bytes);
// send() adds the headers that describe this exchange rather than the stored
// reply (rate limit, Vary, Cache-Control, CORS), so a replayed idempotent
// reply carries current ones, and hands it to the call's Respond. Given the
// config and the metrics only. Thread-safe: const after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/handler.h"
#include "api/service.h"
#include "common/metrics.h"
#include "config/config.h"
#include "render/reply.h"

namespace restd::api {

// The media types PATCH takes (RFC 5789 Accept-Patch).
inline constexpr std::string_view kAcceptPatch =
    "application/merge-patch+json, application/json, application/x-www-form-urlencoded";

class ReplyWriter {
 public:
  // `metrics` may be null. Both must outlive this.
  ReplyWriter(const Config& config, Metrics* metrics);

  Response render(const Service::Call& call, render::Reply reply) const;
  // Adds the exchange's headers and the route tag of the metrics, and hands
  // `res` to the call's Respond (once per call).
  void send(const Service::Call& call, Response res) const;
  // render(), then send(): how a reply that is not kept for an
  // Idempotency-Key goes out (RecordWrites::finish keeps the others).
  void answer(const Service::Call& call, render::Reply reply) const { send(call, render(call, std::move(reply))); }

  // The /metrics label of each route tag (Response::routeTag) for `config`.
  static std::vector<std::string> metricRoutes(const Config& config);

 private:
  // 0 for none, then the fixed routes in RouteId order, then three per
  // collection (list, events, record): metricRoutes()'s order.
  uint16_t routeTag(const Service::Call& call) const;
  bool originAllowed(std::string_view origin) const;
  // The CORS headers for this request's Origin, when [cors] allows it.
  void addCorsHeaders(const Service::Call& call, Response& res) const;

  const Config& config_;
  Metrics* metrics_;
  std::string rateLimitPolicy_;  // RateLimit-Policy, formatted once
};

}  // namespace restd::api
