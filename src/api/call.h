// One request as the Service sees it. Private to api/.
#pragma once

#include "api/service.h"

namespace restd::api {

// One item of a batch as it goes through the transaction.
struct BatchItem {
  // The item as received (failures' rawData): points into the request's
  // parsed body, which the batch's job keeps alive (no copy per item).
  const rapidjson::Value* raw = nullptr;
  std::optional<ErrorObject> error;        // set when the item failed
  std::optional<store::Record> record;     // set when it succeeded
};

struct Service::Call : std::enable_shared_from_this<Service::Call> {
  const Request& request;   // valid until `respond` is called
  Respond respond;
  RouteMatch match;
  const Service::Endpoint* endpoint = nullptr;  // the matched route's row; null when none matched
  QueryParams query;
  const render::Profile* profile = nullptr;
  render::Format format = render::Format::json;
  bool pretty = false;  // ?pretty: indented, with a final newline
  const CollectionSpec* collection = nullptr;  // for collection and record routes
  const CollectionRules* rules = nullptr;
  auth::Identity identity;                     // who is calling
  std::string token;                           // the access token it came with, if any (change-feed re-checks)
  std::optional<RateDecision> rate;            // set once a rate-limit token was spent or refused
  bool submitted = false;                      // a write job was queued for it (RecordWrites::submit)
  bool offLoop = false;                        // runs on the store's pool (Service::offLoop)
  // A POST or PATCH with an Idempotency-Key from a signed-in user: every
  // answer it gets from a handler is kept for retries (RecordWrites::finish).
  bool idempotent() const {
    return principal() && (match.route == RouteId::collection || match.route == RouteId::record) &&
           (request.method == "POST" || request.method == "PATCH") && request.hasHeader("Idempotency-Key");
  }
  bool isRead() const { return request.method == "GET" || request.method == "HEAD"; }
  const auth::Principal* principal() const {
    return identity.kind == auth::Identity::Kind::user ? &identity.principal : nullptr;
  }
  bool isAdmin() const { return principal() && principal()->role == auth::Role::admin; }
  // What names this reply's representation in its ETag: format, profile,
  // and whether it is indented (?pretty).
  std::string representation() const {
    std::string r(format == render::Format::xml ? ":xml:" : ":json:");
    r.append(profile->name());
    if (pretty) r.append(":pretty");
    return r;
  }

  Call(const Request& r, Respond done) : request(r), respond(std::move(done)) {}
};

}  // namespace restd::api
