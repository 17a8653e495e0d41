// The server's own resources as a handler unit of its own: probes, the
// index, the documents rendered once at start (/docs, /docs/errors, the
// OpenAPI document, the admin UI) and their assets, /metrics, and the
// admins' read-only view of accounts. Given only what they read: the
// config, the store (readiness, accounts), the metrics and the maintenance
// flag. Each returns the Reply; the Service sends it. Thread-safe: const
// after construction.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/negotiation.h"
#include "common/metrics.h"
#include "config/config.h"
#include "render/reply.h"
#include "store/store.h"

namespace restd::api {

class SystemEndpoints {
 public:
  // `metrics` may be null (no /metrics); `maintenanceRetryAfter` is the
  // Service's flag (-1 while off). All must outlive this.
  SystemEndpoints(const Config& config, store::Store& store, Metrics* metrics,
                  const std::atomic<int64_t>& maintenanceRetryAfter);

  render::Reply healthz() const;
  render::Reply readyz() const;
  render::Reply metrics() const;
  render::Reply index() const;
  render::Reply docs() const;
  render::Reply errorReference() const;
  render::Reply admin() const;
  // JSON only: the .xml suffix is 404.
  render::Reply openApi(bool xmlAsked) const;
  render::Reply webAsset(std::string_view name) const;  // /docs/assets/NAME, /_/assets/NAME
  // GET {base}/_users and {base}/_apikeys: admins only; never a hash or a key.
  render::Reply listAccounts(const QueryParams& query, bool callerIsAdmin, bool apiKeys) const;

 private:
  const Config& config_;
  store::Store& store_;
  Metrics* metrics_;
  const std::atomic<int64_t>& maintenanceRetryAfter_;
  std::string docsHtml_;     // rendered once at start
  std::string errorsHtml_;
  std::string openApiJson_;
  std::string adminHtml_;    // the admin UI's page with this server's base_path
};

// The HTML pages served at /docs, /docs/errors and /_/ (docs_pages.cpp).
std::string renderDocsPage(const Config& config);
std::string renderAdminPage(const Config& config);
std::string renderErrorReference();

}  // namespace restd::api
