#include "api/negotiation.h"

#include <algorithm>

#include "api/router.h"
#include "common/strings.h"

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

bool isFormBody(std::string_view contentType) {
  return iequals(trim(contentType.substr(0, contentType.find(';'))), "application/x-www-form-urlencoded");
}

bool formBodyIsJson(std::string_view body) {
  size_t i = body.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || (body[i] != '{' && body[i] != '[')) return false;
  size_t j = body.find_last_not_of(" \t\r\n");
  return body[j] == (body[i] == '{' ? '}' : ']');
}

std::optional<ErrorObject> readForm(std::string_view body, QueryParams& out) {
  if (formBodyIsJson(body)) return ErrorObject(Reason::unsupported_media_type, std::string(kJsonSentAsForm));
  if (!parseQuery(body, out)) return ErrorObject(Reason::invalid_parameter, "The form body has a malformed percent-escape.");
  return std::nullopt;
}

const std::string* findParam(const QueryParams& params, std::string_view name) {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}

std::optional<render::Format> negotiateFormat(std::string_view accept) {
  if (trim(accept).empty()) return render::Format::json;
  // Best q for each format; specific types beat wildcards at equal q by order of checks.
  double json = 0, xml = 0;
  forEachWeighted(accept, [&](std::string_view type, double q) {
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
  });
  if (json <= 0 && xml <= 0) return std::nullopt;
  return xml > json ? render::Format::xml : render::Format::json;
}

}  // namespace restd::api
