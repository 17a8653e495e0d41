// AuthEndpoints (auth_endpoints.h): POST /authenticate, GET /me and
// POST /logout (SPEC §4 "Authentication").
#include "api/auth_endpoints.h"

#include "api/call.h"
#include "api/reply_writer.h"
#include "common/json.h"
#include "common/time.h"

namespace restd::api {

using auth::Identity;
using render::Reply;
using render::ReplyKind;

Reply AuthEndpoints::lockedOut(int64_t retryAfterSeconds) {
  Reply r = Reply::failure(ErrorObject(Reason::rate_limited, "Too many failed logins; try again later."));
  r.header("Retry-After", std::to_string(retryAfterSeconds));
  return r;
}

void AuthEndpoints::authenticate(const Service::CallPtr& call) const {
  // userName, apiKey and password, as form fields or a JSON object.
  std::string values[3];
  static constexpr const char* kNames[] = {"userName", "apiKey", "password"};
  std::string_view ct = call->request.header("Content-Type");
  std::string_view media = trim(ct.substr(0, ct.find(';')));
  if (isFormBody(ct)) {
    QueryParams form;
    if (auto e = readForm(call->request.body, form)) return replies_.answer(*call, Reply::failure(*e));
    for (int i = 0; i < 3; ++i)
      if (const std::string* v = findParam(form, kNames[i])) values[i] = *v;
  } else if (iequals(media, "application/json")) {
    rapidjson::Document body;
    std::string why;
    if (!parseStrictJson(call->request.body, body, why))
      return replies_.answer(*call, Reply::failure(ErrorObject(Reason::invalid_json, why)));
    if (body.IsObject())
      for (int i = 0; i < 3; ++i) {
        auto it = body.FindMember(kNames[i]);
        if (it != body.MemberEnd() && it->value.IsString())
          values[i].assign(it->value.GetString(), it->value.GetStringLength());
      }
  } else {
    return replies_.answer(*call, Reply::failure(ErrorObject(
                             Reason::unsupported_media_type,
                             "Send userName, apiKey and password as application/x-www-form-urlencoded or JSON.")));
  }
  auth_.login(values[0], values[1], values[2], std::string(call->request.clientAddress),
              [this, call](auth::LoginResult r) {
                using K = auth::LoginResult::Kind;
                if (r.kind == K::lockedOut) return replies_.answer(*call, lockedOut(r.retryAfter));
                if (r.kind == K::storageDown)
                  return replies_.answer(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
                if (r.kind == K::invalid) {
                  Reply reply = Reply::failure(ErrorObject(Reason::invalid_credentials));
                  reply.header("WWW-Authenticate", "Bearer");
                  return replies_.answer(*call, std::move(reply));
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
                replies_.answer(*call, std::move(reply));
              });
}

Reply AuthEndpoints::me(const Service::Call& call) {
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

void AuthEndpoints::logout(const Service::CallPtr& call) const {
  auto done = [this, call](bool committed) {
    if (!committed) return replies_.answer(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
    Reply reply;
    reply.kind = ReplyKind::resource;
    auto& a = reply.data.GetAllocator();
    reply.data.SetObject();
    reply.data.AddMember("logged_in", false, a);
    reply.data.AddMember("statusMessage", "you are logged out", a);
    replies_.answer(*call, std::move(reply));
  };
  const std::string& tokenHash = call->identity.principal.tokenHash;
  if (tokenHash.empty()) return done(true);  // Basic credentials: no token to revoke
  auth_.logout(tokenHash, done);
}

}  // namespace restd::api
