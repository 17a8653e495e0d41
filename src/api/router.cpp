#include "api/router.h"

#include <algorithm>

#include "common/utf8.h"

namespace restd::api {

uint16_t methodBit(std::string_view m) {
  if (m == "GET") return kGet;
  if (m == "HEAD") return kHead;
  if (m == "POST") return kPost;
  if (m == "PUT") return kPut;
  if (m == "PATCH") return kPatch;
  if (m == "DELETE") return kDelete;
  if (m == "OPTIONS") return kOptions;
  return 0;
}

std::string allowHeader(uint16_t methods) {
  static constexpr std::pair<uint16_t, const char*> kOrder[] = {
      {kGet, "GET"}, {kHead, "HEAD"}, {kPost, "POST"}, {kPut, "PUT"},
      {kPatch, "PATCH"}, {kDelete, "DELETE"}, {kOptions, "OPTIONS"}};
  std::string out;
  for (auto [bit, name] : kOrder) {
    if (!(methods & bit)) continue;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

namespace {
// Decoded text goes into messages, JSON and XML: never as bytes that are not UTF-8.
void keepUtf8(std::string& out) {
  if (isValidUtf8(out)) return;
  std::string clean;
  appendSanitizedUtf8(clean, out);
  out.swap(clean);
}
}  // namespace

bool percentDecode(std::string_view in, std::string& out, PercentMode mode) {
  if (in.find('%') == std::string_view::npos && (mode == PercentMode::path || in.find('+') == std::string_view::npos)) {
    out.assign(in);  // nothing to decode: the common case, copied at once
    keepUtf8(out);
    return true;
  }
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+' && mode == PercentMode::form) {
      out += ' ';
      continue;
    }
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0' && mode == PercentMode::path) return false;
    out += c;
    i += 2;
  }
  keepUtf8(out);
  return true;
}

Router::Router(std::string basePath, std::vector<std::string> collections, std::vector<RouteDef> routes)
    : basePath_(std::move(basePath)), collections_(std::move(collections)), routes_(std::move(routes)) {
  for (const RouteDef& def : routes_) maxSegments_ = std::max(maxSegments_, def.segments.size());
}

// Long by design: one pass over the path (no allocation but the decoded
// id), on every request; split, it would hand views between functions.
RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  if (path.empty() || path[0] != '/') return m;

  // Which scope: below base_path, or the server's own paths.
  bool underBase = false;
  std::string_view rest = path;
  if (basePath_.empty()) {
    underBase = true;
  } else if (path.starts_with(basePath_) &&
             (path.size() == basePath_.size() || path[basePath_.size()] == '/')) {
    underBase = true;
    rest = path.substr(basePath_.size());
  }
  if (rest.size() > 1 && rest.back() == '/') rest.remove_suffix(1);  // one trailing slash is tolerated

  // Split and decode the segments; the last may carry a format suffix. No
  // route is longer than maxSegments_, so a longer path stops here. The
  // strings keep their capacity across requests on one thread (an id is
  // longer than the short-string buffer).
  thread_local std::vector<std::string> segs;
  size_t n = 0;
  std::string_view r = rest;
  while (!r.empty()) {
    if (r[0] == '/') r.remove_prefix(1);
    size_t slash = r.find('/');
    std::string_view raw = r.substr(0, slash);
    r = slash == std::string_view::npos ? std::string_view{} : r.substr(slash);
    if (n == maxSegments_) return m;
    if (segs.size() <= n) segs.resize(n + 1);
    std::string& decoded = segs[n];
    if (!percentDecode(raw, decoded) || decoded.empty()) {
      if (raw.empty() && r.empty()) break;
      return m;  // malformed or empty segment: nothing lives there
    }
    ++n;
  }
  Suffix suffix = Suffix::none;
  if (n > 0) {
    std::string& last = segs[n - 1];
    auto strip = [&](std::string_view ext, Suffix s) {
      if (last.size() > ext.size() && last.ends_with(ext)) {
        last.resize(last.size() - ext.size());
        suffix = s;
      }
    };
    strip(".json", Suffix::json);
    if (suffix == Suffix::none) strip(".xml", Suffix::xml);
  }

  auto tryScope = [&](bool scope) -> bool {
    for (const RouteDef& def : routes_) {
      if (def.underBase != scope || def.segments.size() != n) continue;
      std::string_view coll;
      const std::string* id = nullptr;
      bool ok = true;
      for (size_t i = 0; i < n && ok; ++i) {
        const std::string& pat = def.segments[i];
        if (pat == "{collection}") {
          auto it = std::find(collections_.begin(), collections_.end(), segs[i]);
          ok = it != collections_.end();
          if (ok) coll = *it;
        } else if (pat == "{id}") {
          id = &segs[i];
        } else {
          ok = pat == segs[i];
        }
      }
      if (!ok) continue;
      m.route = def.id;
      m.collection = coll;
      if (id) m.id = *id;
      m.allowed = def.methods | kOptions | ((def.methods & kGet) ? kHead : 0);
      return true;
    }
    return false;
  };
  // The server's own paths win over API paths when base_path is "".
  bool found = basePath_.empty() ? (tryScope(false) || tryScope(true)) : tryScope(underBase);
  if (!found) return m;

  m.suffix = suffix;
  m.resource = rest.empty() ? std::string_view("/") : rest;
  uint16_t bit = methodBit(method);
  if (bit == 0) m.outcome = RouteMatch::Outcome::notImplemented;
  else if (!(m.allowed & bit)) m.outcome = RouteMatch::Outcome::methodNotAllowed;
  else m.outcome = RouteMatch::Outcome::found;
  return m;
}

}  // namespace restd::api
