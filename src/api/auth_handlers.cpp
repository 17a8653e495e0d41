// Authentication in the API: reading credentials from a request, the check
// order token (401) -> lock-out (429) -> role (403), and the /authenticate,
// /me and /logout endpoints (SPEC §4 "Authentication").
#include <sodium.h>

#include "api/call.h"
#include "common/json.h"
#include "common/time.h"

namespace restd::api {

using auth::Identity;
using render::Reply;
using render::ReplyKind;

namespace {

bool startsWithScheme(std::string_view header, std::string_view scheme) {
  return header.size() > scheme.size() && iequals(header.substr(0, scheme.size()), scheme) &&
         header[scheme.size()] == ' ';
}


bool isFormBody(const Request& r) {
  std::string_view ct = r.header("Content-Type");
  return iequals(trim(ct.substr(0, ct.find(';'))), "application/x-www-form-urlencoded");
}

// The lock-out's 429 (SPEC §4): refused before any password is checked.
Reply lockedOut(int64_t retryAfterSeconds) {
  Reply r = Reply::failure(ErrorObject(Reason::rate_limited, "Too many failed logins; try again later."));
  r.header("Retry-After", std::to_string(retryAfterSeconds));
  return r;
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
  } else if (isFormBody(req)) {
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
      return finish(*call, lockedOut(id.retryAfter));
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

void Service::authenticate(const CallPtr& call) {
  // userName, apiKey and password, as form fields or a JSON object.
  std::string values[3];
  static constexpr const char* kNames[] = {"userName", "apiKey", "password"};
  std::string_view ct = call->request.header("Content-Type");
  std::string_view media = trim(ct.substr(0, ct.find(';')));
  if (isFormBody(call->request)) {
    if (formBodyIsJson(call->request.body))
      return finish(*call, Reply::failure(ErrorObject(Reason::unsupported_media_type, std::string(kJsonSentAsForm))));
    QueryParams form;
    if (!parseQuery(call->request.body, form))
      return finish(*call, Reply::failure(ErrorObject(Reason::invalid_parameter,
                                                      "The form body has a malformed percent-escape.")));
    for (int i = 0; i < 3; ++i)
      if (const std::string* v = findParam(form, kNames[i])) values[i] = *v;
  } else if (iequals(media, "application/json")) {
    rapidjson::Document body;
    std::string why;
    if (!parseStrictJson(call->request.body, body, why))
      return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json, why)));
    if (body.IsObject())
      for (int i = 0; i < 3; ++i) {
        auto it = body.FindMember(kNames[i]);
        if (it != body.MemberEnd() && it->value.IsString())
          values[i].assign(it->value.GetString(), it->value.GetStringLength());
      }
  } else {
    return finish(*call, Reply::failure(ErrorObject(
                             Reason::unsupported_media_type,
                             "Send userName, apiKey and password as application/x-www-form-urlencoded or JSON.")));
  }
  auth_.login(values[0], values[1], values[2], std::string(call->request.clientAddress),
              [this, call](auth::LoginResult r) {
                using K = auth::LoginResult::Kind;
                if (r.kind == K::lockedOut) return finish(*call, lockedOut(r.retryAfter));
                if (r.kind == K::storageDown)
                  return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
                if (r.kind == K::invalid) {
                  Reply reply = Reply::failure(ErrorObject(Reason::invalid_credentials));
                  reply.header("WWW-Authenticate", "Bearer");
                  return finish(*call, std::move(reply));
                }
                Reply reply;
                reply.kind = ReplyKind::authenticate;
                auto& a = reply.data.GetAllocator();
                reply.data.SetObject();
                std::string expires = formatRfc3339(SysTime(std::chrono::milliseconds(r.expiresAt)));
                reply.data.AddMember("access_token", rapidjson::Value(r.token.c_str(), a), a);
                reply.data.AddMember("expires", rapidjson::Value(expires.c_str(), a), a);
                reply.data.AddMember("token_type", "Bearer", a);
                static const std::vector<std::string> kDates{"expires"};
                reply.dateFields = &kDates;
                reply.header("Cache-Control", "no-store");
                finish(*call, std::move(reply));
              });
}

Reply Service::me(const Call& call) const {
  Reply reply;
  reply.kind = ReplyKind::me;
  auto& a = reply.data.GetAllocator();
  reply.data.SetObject();
  if (call.identity.kind == Identity::Kind::storageDown)
    return Reply::failure(ErrorObject(Reason::storage_unavailable));
  const auth::Principal* p = call.principal();
  reply.data.AddMember("logged_in", p != nullptr, a);
  std::string message = p ? "you are logged in as '" + p->userName + "'" : "you are not logged in";
  reply.data.AddMember("statusMessage", rapidjson::Value(message.c_str(), a), a);
  if (p) {
    rapidjson::Value user(rapidjson::kObjectType);
    user.AddMember("id", rapidjson::Value(p->userId.c_str(), a), a);
    user.AddMember("userName", rapidjson::Value(p->userName.c_str(), a), a);
    user.AddMember("role", rapidjson::StringRef(auth::roleName(p->role).data()), a);
    reply.data.AddMember("user", user, a);
  }
  return reply;
}

void Service::logout(const CallPtr& call) {
  auto done = [this, call](bool committed) {
    if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
    Reply reply;
    reply.kind = ReplyKind::resource;
    auto& a = reply.data.GetAllocator();
    reply.data.SetObject();
    reply.data.AddMember("logged_in", false, a);
    reply.data.AddMember("statusMessage", "you are logged out", a);
    finish(*call, std::move(reply));
  };
  const std::string& tokenHash = call->identity.principal.tokenHash;
  if (tokenHash.empty()) return done(true);  // Basic credentials: no token to revoke
  auth_.logout(tokenHash, done);
}

}  // namespace restd::api
