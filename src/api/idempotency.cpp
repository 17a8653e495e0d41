#include "api/idempotency.h"

#include <rapidjson/document.h>

#include "api/record_replies.h"
#include "auth/credentials.h"
#include "common/json.h"
#include "common/time.h"

namespace restd::api {

namespace {

constexpr int64_t kKeptForMs = 24 * 3600 * 1000LL;

std::string headerJson(const std::vector<std::pair<std::string, std::string>>& headers) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  for (const auto& [k, v] : headers)
    d.AddMember(rapidjson::Value(k.c_str(), a), rapidjson::Value(v.c_str(), a), a);
  return toJsonText(d);
}

}  // namespace

std::optional<IdempotentWrite> IdempotentWrite::of(const Request& request, std::string userId) {
  if (request.method != "POST" && request.method != "PATCH") return std::nullopt;
  std::string_view key = request.header("Idempotency-Key");
  if (key.empty()) return std::nullopt;  // an empty key names no request
  std::string hash = auth::sha256Hex(std::string(request.method) + " " + std::string(request.target) + "\n" +
                                     std::string(request.body));
  return IdempotentWrite(std::string(key), std::move(userId), std::move(hash));
}

void IdempotentWrite::replay(const store::StoredReply& stored, Response& out) {
  out.status = stored.status;
  out.contentType = stored.contentType;
  out.body = stored.body;
  rapidjson::Document h;
  h.Parse(stored.headers.data(), stored.headers.size());
  if (h.IsObject())
    for (auto& m : h.GetObject()) out.addHeader(m.name.GetString(), m.value.GetString());
  out.addHeader("Idempotent-Replayed", "true");
}

bool IdempotentWrite::run(store::WriteTxn& txn, const Work& work, const Render& render, const Request& request,
                          Response& out) const {
  store::StoredReply stored;
  Status e = txn.getStoredReply(userId_, key_, nowMillis() - kKeptForMs, stored);
  if (!e) {
    if (stored.requestHash != requestHash_) {
      out = render(render::Reply::failure(ErrorObject(
          Reason::idempotency_key_reused, "This Idempotency-Key was already used with a different request.")));
      return false;
    }
    replay(stored, out);
    return false;
  }
  if (e.code != StatusCode::notFound) {
    out = render(render::Reply::failure(storeError(e, request)));
    return false;
  }
  bool keep = false;
  render::Reply reply;
  if (auto failed = txn.nested([&] {
        reply = work(txn, keep);
        return keep;
      })) {
    out = render(render::Reply::failure(storeError(failed, request)));
    return false;
  }
  out = render(std::move(reply));
  if (out.status >= 500) return false;
  store::StoredReply kept{requestHash_, out.status, out.contentType, headerJson(out.headers), out.body, nowMillis()};
  if (auto failed = txn.putStoredReply(userId_, key_, kept)) {
    out = render(render::Reply::failure(storeError(failed, request)));
    return false;
  }
  return true;
}

}  // namespace restd::api
