// The human pages served at /docs and /docs/errors. Both are rendered once at
// start-up from the config and the error table, so they are always true.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>

#include "api/system.h"
#include "api/web_assets.h"
#include "common/error.h"

namespace restd::api {
namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

constexpr std::string_view kHtmlHead = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}
code,pre{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}h2{margin-top:2rem}
section{border-top:1px solid #eee;padding-top:.5rem}</style>
)";

}  // namespace

std::string renderErrorReference() {
  std::string h(kHtmlHead);
  h += "<title>restd error reference</title></head><body>\n<h1>restd error reference</h1>\n";
  h += "<p>Every error restd returns carries a <code>reason</code> from this list, with <code>type</code>, "
       "<code>code</code> (the HTTP status), <code>message</code> and <code>info</code> (a link to the entry "
       "below). Validation errors add <code>field</code>; several problems at once are listed in "
       "<code>details</code>.</p>\n<table><tr><th>reason</th><th>status</th><th>type</th></tr>\n";
  for (const auto& r : allReasons()) {
    h += "<tr><td><a href=\"#" + std::string(r.name) + "\"><code>" + std::string(r.name) + "</code></a></td><td>" +
         std::to_string(r.status) + "</td><td>" + std::string(errorType(r.status, r.name != "batch_invalid" && r.name != "empty_batch" && r.name != "idempotency_key_reused")) +
         "</td></tr>\n";
  }
  h += "</table>\n";
  for (const auto& r : allReasons()) {
    h += "<section id=\"" + std::string(r.name) + "\"><h2><code>" + std::string(r.name) + "</code> — " +
         std::to_string(r.status) + " " + std::string(statusPhrase(r.status)) + "</h2>\n";
    h += "<p><strong>Message:</strong> " + esc(r.message) + "</p>\n";
    h += "<p><strong>Cause:</strong> " + esc(r.cause) + "</p>\n";
    h += "<p><strong>How to avoid it:</strong> " + esc(r.description) + "</p></section>\n";
  }
  h += "</body></html>\n";
  return h;
}

std::string renderAdminPage(const Config& config) {
  // The page Vite built (web/admin), told where the API is.
  const WebAsset* page = findWebAsset("admin.html");
  std::string h(page ? page->body : std::string_view("<!doctype html><title>restd admin</title>missing"));
  const std::string_view marker = "%RESTD_BASE%";
  if (size_t at = h.find(marker); at != std::string::npos) h.replace(at, marker.size(), esc(config.server.basePath));
  return h;
}

// A bound as written in the config: 1000, not 1000.000000.
std::string bound(double d) {
  if (std::floor(d) == d && std::fabs(d) < 9.0e15) return std::to_string(static_cast<int64_t>(d));
  std::ostringstream os;
  os << d;
  return os.str();
}

std::string renderDocsPage(const Config& config) {
  const std::string& base = config.server.basePath;
  const std::string spec = base + "/openapi.json";
  std::string h = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>restd API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<style>body{margin:0;font-family:system-ui,sans-serif;color:#222}
header{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:baseline;padding:.8rem 1.5rem;background:#1f2933;color:#f5f7fa}
header h1{font-size:1.2rem;margin:0}header a{color:#9fd3ff;text-decoration:none}header a:hover{text-decoration:underline}
noscript section,noscript p{max-width:60rem;margin:1rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}</style>
</head><body>
<header><h1>restd API reference</h1>
<a href=")" + esc(spec) + R"(">OpenAPI document</a><a href="/docs/errors">Error reference</a>
<a href="#envelope-profiles" onclick="document.querySelector('.information-container').scrollIntoView();return false">Envelope profiles</a>
<a href=")" + esc(base.empty() ? "/" : base + "/") + R"(">Index</a><a href="/_/">Admin UI</a></header>
<div id="swagger-ui"></div>
<noscript><p>This page renders the OpenAPI document with JavaScript. Without it: the document is at
<a href=")" + esc(spec) + R"(">)" + esc(spec) + R"(</a>, the errors at <a href="/docs/errors">/docs/errors</a>,
and the collections are:</p>
)";
  for (const auto& c : config.collections) {
    h += "<section id=\"" + esc(c.name) + "\"><h2><code>" + esc(base + "/" + c.name) + "</code></h2>\n";
    h += "<table><tr><th>field</th><th>type</th><th>rules</th></tr>\n";
    for (const auto& f : c.fields) {
      std::string rules;
      auto add = [&](const std::string& r) { rules += (rules.empty() ? "" : ", ") + r; };
      if (f.required) add("required");
      if (f.unique) add("unique");
      if (f.readOnly) add("read-only");
      if (f.defaultJson) add("default " + *f.defaultJson);
      if (!f.enumJson.empty()) {
        std::string e;
        for (const auto& v : f.enumJson) e += (e.empty() ? "" : " | ") + v;
        add("one of " + e);
      }
      if (f.min) add("min " + bound(*f.min));
      if (f.max) add("max " + bound(*f.max));
      if (f.minLength) add("min_length " + std::to_string(*f.minLength));
      if (f.maxLength) add("max_length " + std::to_string(*f.maxLength));
      if (f.pattern) add("pattern " + *f.pattern);
      h += "<tr><td><code>" + esc(f.name) + "</code></td><td>" + std::string(fieldTypeName(f.type)) + "</td><td>" +
           esc(rules) + "</td></tr>\n";
    }
    h += "</table></section>\n";
  }
  // Swagger UI from the server itself (web/package.json): "Try it out" calls
  // this server; a token given to "Authorize" stays in the page's memory.
  h += R"(</noscript>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: ")" + esc(spec) + R"(",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  displayRequestDuration: true,
  filter: true,
  tryItOutEnabled: false,
  defaultModelsExpandDepth: 0
});
</script>
</body></html>
)";
  return h;
}

}  // namespace restd::api
