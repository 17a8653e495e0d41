#include "api/system.h"

#include "api/openapi.h"
#include "api/record_helpers.h"
#include "api/service.h"
#include "api/web_assets.h"
#include "common/time.h"

namespace restd::api {

using render::Reply;

namespace {
constexpr std::string_view kHtml = "text/html; charset=utf-8";
}  // namespace

SystemEndpoints::SystemEndpoints(const Config& config, store::Store& store, Metrics* metrics,
                                 const std::atomic<int64_t>& maintenanceRetryAfter)
    : config_(config),
      store_(store),
      metrics_(metrics),
      maintenanceRetryAfter_(maintenanceRetryAfter),
      docsHtml_(renderDocsPage(config)),
      errorsHtml_(renderErrorReference()),
      openApiJson_(renderOpenApi(config)),
      adminHtml_(renderAdminPage(config)) {}

Reply SystemEndpoints::metrics() const {
  if (!metrics_) return Reply::failure(ErrorObject(Reason::not_found));
  return Reply::document(200, std::string(Metrics::kContentType), metrics_->render());
}

Reply SystemEndpoints::docs() const { return Reply::document(200, std::string(kHtml), docsHtml_); }
Reply SystemEndpoints::errorReference() const { return Reply::document(200, std::string(kHtml), errorsHtml_); }
Reply SystemEndpoints::admin() const { return Reply::document(200, std::string(kHtml), adminHtml_); }

Reply SystemEndpoints::openApi(bool xmlAsked) const {
  if (xmlAsked) return Reply::failure(ErrorObject(Reason::not_found));  // the document exists only as JSON
  return Reply::document(200, "application/json; charset=utf-8", openApiJson_);
}

Reply SystemEndpoints::healthz() const {
  Reply r;
  r.data.SetObject();
  r.data.AddMember("status", "ok", r.data.GetAllocator());
  return r;
}

Reply SystemEndpoints::readyz() const {
  Reply r;
  bool reachable = store_.ready();
  int64_t maintenance = maintenanceRetryAfter_.load(std::memory_order_relaxed);
  bool ok = reachable && maintenance < 0;
  r.status = ok ? 200 : 503;
  auto& a = r.data.GetAllocator();
  r.data.SetObject();
  r.data.AddMember("status", rapidjson::StringRef(ok ? "ready" : maintenance >= 0 ? "maintenance" : "unavailable"), a);
  r.data.AddMember("storage", rapidjson::StringRef(reachable ? "reachable" : "unreachable"), a);
  r.data.AddMember("maintenance", maintenance >= 0, a);
  if (!ok) r.header("Retry-After", maintenance >= 0 ? std::to_string(maintenance) : "5");
  return r;
}

Reply SystemEndpoints::webAsset(std::string_view name) const {
  const WebAsset* asset = findWebAsset(name);
  if (!asset) return Reply::failure(ErrorObject(Reason::not_found));
  Reply r = Reply::document(200, std::string(asset->contentType), std::string(asset->body));
  r.header("ETag", asset->etag);
  r.conditional = true;  // a browser's revalidation is a 304
  return r;
}

Reply SystemEndpoints::listAccounts(const QueryParams& query, bool callerIsAdmin, bool apiKeys) const {
  if (auto e = onlyParams(query, {"envelope", "access_token"})) return Reply::failure(*e);
  if (!callerIsAdmin) return Reply::failure(ErrorObject(Reason::forbidden, "Only admins may list accounts."));
  Reply r;
  auto& a = r.data.GetAllocator();
  r.data.SetArray();
  // One row: string members, in this order.
  auto row = [&](std::initializer_list<std::pair<const char*, std::string>> members) {
    rapidjson::Value v(rapidjson::kObjectType);
    for (const auto& [key, text] : members)
      v.AddMember(rapidjson::StringRef(key), rapidjson::Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), a), a);
    r.data.PushBack(v, a);
  };
  auto date = [](int64_t ms) { return formatRfc3339(SysTime(std::chrono::milliseconds(ms))); };
  Status e;
  if (apiKeys) {
    std::vector<store::ApiKey> keys;
    e = store_.listApiKeys(keys);
    for (const auto& k : keys) row({{"label", k.label}, {"prefix", k.prefix}, {"createdAt", date(k.createdAt)}});
  } else {
    std::vector<store::User> users;
    e = store_.listUsers(users);
    for (const auto& u : users)
      row({{"id", u.id}, {"userName", u.userName}, {"role", u.role}, {"createdAt", date(u.createdAt)}});
  }
  if (e) return Reply::failure(ErrorObject(Reason::storage_unavailable));
  return r;
}

Reply SystemEndpoints::index() const {
  Reply r;
  auto& a = r.data.GetAllocator();
  const std::string& base = config_.server.basePath;
  auto str = [&](const std::string& s) {
    return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  r.data.SetObject();
  r.data.AddMember("name", "restd", a);
  r.data.AddMember("version", rapidjson::StringRef(RESTD_VERSION), a);
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
      fv.AddMember("type", str(std::string(fieldTypeName(f.type))), a);
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

}  // namespace restd::api
