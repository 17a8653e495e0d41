// The human pages served at /docs and /docs/errors. Both are rendered once at
// start-up from the config and the error table, so they are always true.
#include <string>

#include "api/service.h"
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

std::string renderDocsPage(const Config& config) {
  const std::string& base = config.server.basePath;
  std::string h(kHtmlHead);
  h += "<title>restd API reference</title></head><body>\n<h1>restd API reference</h1>\n";
  h += "<p>Every API path below is relative to <code>" + esc(base.empty() ? "/" : base) +
       "</code>. Replies are JSON by default; send <code>Accept: application/xml</code> or end the path in "
       "<code>.xml</code> for XML. Errors are described in the <a href=\"/docs/errors\">error reference</a>.</p>\n";
  h += "<h2>Server paths</h2><table><tr><th>path</th><th>methods</th><th>does</th></tr>\n"
       "<tr><td><code>/healthz</code></td><td>GET</td><td>liveness: 200 while the process serves</td></tr>\n"
       "<tr><td><code>/readyz</code></td><td>GET</td><td>readiness: 200 when storage is reachable, else 503</td></tr>\n"
       "<tr><td><code>/docs</code>, <code>/docs/errors</code></td><td>GET</td><td>these pages</td></tr>\n"
       "<tr><td><code>" + esc(base) + "/</code></td><td>GET</td><td>index of collections and links</td></tr>\n"
       "<tr><td><a href=\"" + esc(base) + "/openapi.json\"><code>" + esc(base) +
       "/openapi.json</code></a></td><td>GET</td><td>the OpenAPI 3.1 document of this server</td></tr>\n</table>\n";
  h += "<h2>Collections</h2>\n";
  if (config.collections.empty()) h += "<p>This server declares no collections.</p>\n";
  for (const auto& c : config.collections) {
    h += "<section id=\"" + esc(c.name) + "\"><h3><code>" + esc(base + "/" + c.name) + "</code></h3>\n";
    h += "<table><tr><th>field</th><th>type</th><th>rules</th></tr>\n";
    for (const auto& f : c.fields) {
      std::string rules;
      auto add = [&](const std::string& s) { rules += (rules.empty() ? "" : ", ") + s; };
      if (f.required) add("required");
      if (f.unique) add("unique");
      if (f.readOnly) add("read-only");
      if (f.defaultJson) add("default " + *f.defaultJson);
      if (!f.enumJson.empty()) {
        std::string e;
        for (const auto& v : f.enumJson) e += (e.empty() ? "" : " | ") + v;
        add("one of " + e);
      }
      if (f.min) add("min " + std::to_string(*f.min));
      if (f.max) add("max " + std::to_string(*f.max));
      if (f.minLength) add("min_length " + std::to_string(*f.minLength));
      if (f.maxLength) add("max_length " + std::to_string(*f.maxLength));
      if (f.pattern) add("pattern " + *f.pattern);
      h += "<tr><td><code>" + esc(f.name) + "</code></td><td>" + std::string(fieldTypeName(f.type)) + "</td><td>" +
           esc(rules) + "</td></tr>\n";
    }
    h += "</table></section>\n";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace restd::api
