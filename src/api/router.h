// The router: a pure lookup from (method, path) to a route and its path
// parameters. It holds no handlers and does no I/O; safe to share between
// threads once built.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace restd::api {

// In the order of the route table (routes.cpp), which checks it.
enum class RouteId {
  healthz, readyz, metrics, docs, docsErrors, docsAsset, // outside base_path
  admin, adminAsset,                                     // the admin UI, /_/ (outside base_path)
  index, authenticate, me, logout, openapi,              // fixed API paths
  accountUsers, accountKeys,                             // admins' read-only view of accounts
  collection, collectionEvents, record,                  // per collection
};

enum Method : uint16_t {
  kGet = 1, kHead = 2, kPost = 4, kPut = 8, kPatch = 16, kDelete = 32, kOptions = 64,
};
// The Method bit of a method name, or 0 for a method restd does not implement.
uint16_t methodBit(std::string_view method);
// "GET, HEAD, POST, OPTIONS" — the Allow header for a set of methods.
std::string allowHeader(uint16_t methods);

enum class Suffix { none, json, xml };

struct RouteDef {
  RouteId id;
  bool underBase;                      // true: below server.base_path
  std::vector<std::string> segments;   // literal, "{collection}" or "{id}"
  uint16_t methods;                    // without HEAD/OPTIONS: GET implies HEAD, OPTIONS is always allowed
};

struct RouteMatch {
  enum class Outcome { found, notFound, methodNotAllowed, notImplemented } outcome = Outcome::notFound;
  RouteId route = RouteId::index;
  uint16_t allowed = 0;          // methods the path supports, HEAD and OPTIONS included
  std::string_view collection;   // {collection}: a view of the Router's own name
  std::string id;                // {id}, percent-decoded
  Suffix suffix = Suffix::none;  // .json / .xml on the last segment
  // The path below base_path as requested, suffix kept ("/things/abc.json"):
  // a view of match()'s `path` (the request's, which outlives the call).
  std::string_view resource;
};

class Router {
 public:
  Router(std::string basePath, std::vector<std::string> collections, std::vector<RouteDef> routes);
  // `path` is the raw (percent-encoded) path without the query.
  RouteMatch match(std::string_view method, std::string_view path) const;

 private:
  std::string basePath_;
  std::vector<std::string> collections_;
  std::vector<RouteDef> routes_;
  size_t maxSegments_ = 0;  // of any route: a longer path matches nothing
};

// Percent-decodes `in`; false on a malformed escape.
//   path: '+' is itself, a decoded NUL is refused (no path segment holds one);
//   form: '+' is a space (application/x-www-form-urlencoded), NUL is kept.
enum class PercentMode { path, form };
bool percentDecode(std::string_view in, std::string& out, PercentMode mode = PercentMode::path);

}  // namespace restd::api
