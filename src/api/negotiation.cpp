#include "api/negotiation.h"

#include <cstdlib>

#include "api/router.h"
#include "http/message.h"

namespace restd::api {

bool parseQuery(std::string_view query, QueryParams& out) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string k, v;
    if (!percentDecode(part.substr(0, eq), k, PercentMode::form)) return false;
    if (eq != std::string_view::npos && !percentDecode(part.substr(eq + 1), v, PercentMode::form)) return false;
    out.emplace_back(std::move(k), std::move(v));
  }
  return true;
}

bool formBodyIsJson(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || (body[i] != '{' && body[i] != '[')) return false;
  size_t j = body.find_last_not_of(" \t\r\n");
  return body[j] == (body[i] == '{' ? '}' : ']');
}

const std::string* findParam(const QueryParams& params, std::string_view name) {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}

std::optional<render::Format> negotiateFormat(std::string_view accept) {
  using http::trim;
  if (trim(accept).empty()) return render::Format::json;
  // Best q for each format; specific types beat wildcards at equal q by order of checks.
  double json = 0, xml = 0;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view type = trim(item.substr(0, semi));
    double q = 1;
    std::string_view params = semi == std::string_view::npos ? std::string_view{} : item.substr(semi + 1);
    while (!params.empty()) {
      size_t s2 = params.find(';');
      std::string_view p = trim(params.substr(0, s2));
      params = s2 == std::string_view::npos ? std::string_view{} : params.substr(s2 + 1);
      if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
        std::string v(p.substr(2));
        q = std::strtod(v.c_str(), nullptr);
      }
    }
    using http::iequals;
    if (iequals(type, "application/json") || iequals(type, "application/problem+json") || iequals(type, "text/json"))
      json = std::max(json, q);
    else if (iequals(type, "application/xml") || iequals(type, "text/xml") || iequals(type, "application/problem+xml"))
      xml = std::max(xml, q);
    else if (iequals(type, "application/*") || iequals(type, "*/*")) {
      json = std::max(json, q);
      if (iequals(type, "application/*")) xml = std::max(xml, q);
    } else if (iequals(type, "text/*")) {
      xml = std::max(xml, q);
    }
  }
  if (json <= 0 && xml <= 0) return std::nullopt;
  return xml > json ? render::Format::xml : render::Format::json;
}

}  // namespace restd::api
