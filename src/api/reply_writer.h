// How a reply goes out, in one place: render() lays a render::Reply out in
// the call's envelope profile and format (handlers never build wire bytes);
// send() adds the headers that describe this exchange rather than the stored
// reply (rate limit, Vary, Cache-Control, CORS), so a replayed idempotent
// reply carries current ones, and hands it to the call's Respond. Given the
// config and the metrics only. Thread-safe: const after construction.
#pragma once

#include <string>
#include <string_view>

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
  // `endpoint`: the matched route's row (null when none matched).
  void send(const Service::Call& call, const Service::Endpoint* endpoint, Response res) const;

 private:
  bool originAllowed(std::string_view origin) const;
  // The CORS headers for this request's Origin, when [cors] allows it.
  void addCorsHeaders(const Service::Call& call, Response& res) const;

  const Config& config_;
  Metrics* metrics_;
  std::string rateLimitPolicy_;  // RateLimit-Policy, formatted once
};

}  // namespace restd::api
