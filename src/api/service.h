// The API: turns a complete http::Request into an http::Response.
//
// Order of checks (SPEC §10): unknown path 404; method 405/501; Accept 406;
// envelope 400; (token 401, rate limit 429, role 403 — auth issue); then the
// route's handler, whose Reply is rendered by the chosen profile and format.
// Thread-safe: one Service serves every I/O thread.
#pragma once

#include <string>

#include "api/negotiation.h"
#include "api/router.h"
#include "config/config.h"
#include "http/server.h"
#include "render/profile.h"
#include "store/store.h"

namespace restd::api {

class Service final : public http::Handler {
 public:
  Service(const Config& config, store::Store& store);

  http::Response handle(const http::Request& request) override;
  http::Response protocolError(Reason reason, const http::Request& request) override;

  const Router& router() const { return router_; }

 private:
  struct Call;  // one request's parsed state
  render::Reply dispatch(Call& call);
  render::Reply index(const Call& call) const;
  render::Reply healthz() const;
  render::Reply readyz() const;
  http::Response toWire(render::Reply reply, const http::Request& request, const render::Profile& profile,
                        render::Format format, std::string_view resource) const;

  const Config& config_;
  store::Store& store_;
  Router router_;
  const render::Profile* defaultProfile_;
  std::string docsHtml_;        // /docs, rendered once at start
  std::string errorsHtml_;      // /docs/errors, rendered once at start
};

// The HTML pages served at /docs and /docs/errors (docs_pages.cpp).
std::string renderDocsPage(const Config& config);
std::string renderErrorReference();

}  // namespace restd::api
