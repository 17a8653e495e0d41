// The Service's identity and admission steps (service.h): reading
// credentials from a request, the check order token (401) -> lock-out (429)
// -> rate limit (429) -> role (403), then dispatch() (SPEC §4, §10).
#include <sodium.h>

#include "api/auth_endpoints.h"
#include "api/call.h"

namespace restd::api {

using auth::Identity;
using render::Reply;

namespace {

bool startsWithScheme(std::string_view header, std::string_view scheme) {
  return header.size() > scheme.size() && iequals(header.substr(0, scheme.size()), scheme) &&
         header[scheme.size()] == ' ';
}

}  // namespace

ErrorObject Service::tokenMissing() const {
  return ErrorObject(Reason::token_missing,
                     "Please include the access_token parameter in your requests. You can obtain one using the " +
                         config_.server.basePath + "/authenticate endpoint");
}

void Service::resolveIdentity(const CallPtr& call) {
  if (endpoint(call->match.route).access == Endpoint::Access::open) return authorizeAndDispatch(call);
  const Request& req = call->request;
  std::string_view authorization = trim(req.header("Authorization"));
  std::string token;
  if (startsWithScheme(authorization, "Bearer")) {
    token = std::string(trim(authorization.substr(7)));
  } else if (startsWithScheme(authorization, "Basic") && config_.auth.basic) {
    if (onLoop(*call)) return offLoop(call, [this, call] { resolveIdentity(call); });  // reads the user
    std::string_view encoded = trim(authorization.substr(6));
    std::string decoded(encoded.size(), '\0');
    size_t len = 0;
    size_t colon = std::string::npos;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), encoded.data(),
                          encoded.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) == 0) {
      decoded.resize(len);
      colon = decoded.find(':');
    }
    if (colon == std::string::npos) {
      call->identity.kind = Identity::Kind::badBasic;
      return authorizeAndDispatch(call);
    }
    auth_.checkBasic(decoded.substr(0, colon), decoded.substr(colon + 1), std::string(req.clientAddress),
                     [this, call](Identity id) {
                       call->identity = std::move(id);
                       authorizeAndDispatch(call);
                     });
    return;
  } else if (const std::string* q = findParam(call->query, "access_token")) {
    token = *q;
  } else if (isFormBody(req.header("Content-Type"))) {
    QueryParams form;
    if (parseQuery(req.body, form))
      if (const std::string* f = findParam(form, "access_token")) token = *f;
  }
  if (!token.empty() || startsWithScheme(authorization, "Bearer")) {
    if (!onLoop(*call)) {
      call->identity = auth_.checkToken(token);
    } else if (auto id = auth_.checkTokenNow(token)) {
      call->identity = std::move(*id);
    } else {
      return offLoop(call, [this, call] { resolveIdentity(call); });  // not cached: a round trip
    }
    call->token = std::move(token);
  }
  authorizeAndDispatch(call);
}

bool Service::admit(const CallPtr& call) {
  if (!rateLimiter_.enabled()) return true;
  // One reusable buffer per thread: the key costs no allocation per request.
  thread_local std::string key;
  if (const auth::Principal* p = call->principal()) key.assign("user:").append(p->userId);
  else key.assign("addr:").append(call->request.clientAddress);
  if (!onLoop(*call)) {
    call->rate = rateLimiter_.take(key);
  } else if (auto now = rateLimiter_.takeNow(key)) {
    call->rate = *now;
  } else {
    // A new lease from the shared bucket is a round trip: the rest of the
    // call runs on the pool, and spends its token there.
    offLoop(call, [this, call] { authorizeAndDispatch(call); });
    return false;
  }
  if (call->rate->allowed) return true;
  if (metrics_) metrics_->add(Metrics::Counter::rateLimited);
  Reply r = Reply::failure(ErrorObject(Reason::rate_limited, "Too many requests; try again in " +
                                                                 std::to_string(call->rate->retryAfter) + " s."));
  r.header("Retry-After", std::to_string(call->rate->retryAfter));
  finish(*call, std::move(r));
  return false;
}

void Service::authorizeAndDispatch(const CallPtr& call) {
  const Endpoint& target = endpoint(call->match.route);
  // Liveness, readiness and metrics are never limited (SPEC §10).
  if (!target.rateLimited) return dispatch(call);
  if (target.access != Endpoint::Access::user) {
    if (admit(call)) dispatch(call);
    return;
  }
  const Identity& id = call->identity;
  bool anonymousReadOk = call->collection && call->collection->anonymousRead && call->isRead();
  auto unauthorized = [&](ErrorObject e, std::string challenge) {
    Reply r = Reply::failure(std::move(e));
    r.header("WWW-Authenticate", std::move(challenge));
    finish(*call, std::move(r));
  };
  switch (id.kind) {
    case Identity::Kind::anonymous:
      if (anonymousReadOk) {
        if (admit(call)) dispatch(call);
        return;
      }
      return unauthorized(tokenMissing(), "Bearer realm=\"restd\"");
    case Identity::Kind::badToken:
      // A bad token spends its address's tokens (SPEC §10): guessing tokens
      // meets the rate limit's 429 before it meets many 401s.
      if (!admit(call)) return;
      return unauthorized(ErrorObject(Reason::token_expired), "Bearer realm=\"restd\", error=\"invalid_token\"");
    case Identity::Kind::badBasic:
      return unauthorized(ErrorObject(Reason::invalid_credentials), "Basic realm=\"restd\"");
    case Identity::Kind::lockedOut:
      return finish(*call, AuthEndpoints::lockedOut(id.retryAfter));
    case Identity::Kind::storageDown:
      return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
    case Identity::Kind::user: break;
  }
  if (!admit(call)) return;
  // Roles: readers only read; writers and admins also write (ownership is checked per record).
  if (id.principal.role == auth::Role::reader && !call->isRead() && !target.readersMayWrite)
    return finish(*call, Reply::failure(ErrorObject(Reason::forbidden, "Your role (reader) may only read.")));
  dispatch(call);
}

}  // namespace restd::api
