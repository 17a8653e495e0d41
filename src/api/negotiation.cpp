#include "api/negotiation.h"

#include <cstdlib>

#include "http/message.h"

namespace restd::api {

bool parseQuery(std::string_view query, QueryParams& out) {
  auto decode = [](std::string_view in, std::string& s) {
    s.clear();
    s.reserve(in.size());
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
      char c = in[i];
      if (c == '+') s += ' ';
      else if (c != '%') s += c;
      else {
        if (i + 2 >= in.size()) return false;
        int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        s += static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    return true;
  };
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string k, v;
    if (!decode(part.substr(0, eq), k)) return false;
    if (eq != std::string_view::npos && !decode(part.substr(eq + 1), v)) return false;
    out.emplace_back(std::move(k), std::move(v));
  }
  return true;
}

const std::string* findParam(const QueryParams& params, std::string_view name) {
  for (const auto& [k, v] : params)
    if (k == name) return &v;
  return nullptr;
}

std::optional<render::Format> negotiateFormat(std::string_view accept) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
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
