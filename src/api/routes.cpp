// The route table: every endpoint restd serves, its path, what the request
// pipeline must know about it (Service::Endpoint), and the handler of each
// method it takes, in one place. The router is built from it, the pipeline
// reads its properties, and dispatch() calls its handlers. To add an
// endpoint: a RouteId (router.h, in the order of the table), a row here, and
// its handler (CONTRIBUTING.md, "Adding an endpoint").
#include "api/auth_endpoints.h"
#include "api/call.h"
#include "api/change_feed.h"
#include "api/record_reads.h"
#include "api/record_writes.h"

namespace restd::api {

namespace {

using Access = Service::Endpoint::Access;
using Cache = Service::Endpoint::Cache;
using render::Reply;

}  // namespace

// Long by design: one block per endpoint, read as a table.
std::vector<Service::Endpoint> Service::endpointTable() {
  using C = const CallPtr&;
  using S = Service&;
  std::vector<Endpoint> t;
  auto add = [&](RouteId id, bool underBase, std::vector<std::string> segments, Endpoint e) {
    e.id = id;
    e.underBase = underBase;
    e.segments = std::move(segments);
    if (t.size() != static_cast<size_t>(id)) throw std::logic_error("the route table is not in RouteId order");
    t.push_back(std::move(e));
  };
  // The server's own pages and probes, outside base_path. Pages are what a
  // browser loads: one media type each, the same for everyone.
  Endpoint probe;
  probe.system = true;
  probe.access = Access::open;
  probe.rateLimited = false;
  probe.needsStorage = false;
  probe.cache = Cache::noStore;
  Endpoint page;
  page.system = page.ownMediaType = page.fixedRepresentation = true;
  page.access = Access::open;
  page.needsStorage = false;
  add(RouteId::healthz, false, {"healthz"},
      Endpoint(probe).with(kGet, [](S s, C c) { s.finish(*c, s.system_.healthz()); }));
  Endpoint readyz = probe;
  readyz.needsStorage = true;
  add(RouteId::readyz, false, {"readyz"}, readyz.with(kGet, [](S s, C c) { s.finish(*c, s.system_.readyz()); }));
  Endpoint metrics = probe;
  metrics.ownMediaType = metrics.fixedRepresentation = true;
  add(RouteId::metrics, false, {"metrics"}, metrics.with(kGet, [](S s, C c) {
        s.finish(*c, s.system_.metrics());
      }));
  add(RouteId::docs, false, {"docs"},
      Endpoint(page).with(kGet, [](S s, C c) { s.finish(*c, s.system_.docs()); }));
  add(RouteId::docsErrors, false, {"docs", "errors"}, Endpoint(page).with(kGet, [](S s, C c) {
        s.finish(*c, s.system_.errorReference());
      }));
  Endpoint asset = page;
  asset.cache = Cache::publicDay;  // the same bytes until restd is upgraded (ETag)
  add(RouteId::docsAsset, false, {"docs", "assets", "{id}"},
      Endpoint(asset).with(kGet, [](S s, C c) { s.finish(*c, s.system_.webAsset(c->match.id)); }));
  add(RouteId::admin, false, {"_"}, Endpoint(page).with(kGet, [](S s, C c) {
        s.finish(*c, s.system_.admin());
      }));
  add(RouteId::adminAsset, false, {"_", "assets", "{id}"},
      Endpoint(asset).with(kGet, [](S s, C c) { s.finish(*c, s.system_.webAsset(c->match.id)); }));

  // Fixed paths below base_path ("_": never a collection's name).
  Endpoint index;
  index.access = Access::open;
  index.needsStorage = false;
  add(RouteId::index, true, {}, index.with(kGet, [](S s, C c) { s.finish(*c, s.system_.index()); }));
  Endpoint authenticate;
  authenticate.access = Access::open;
  authenticate.cache = Cache::noStore;
  add(RouteId::authenticate, true, {"authenticate"}, authenticate.with(kPost, [](S s, C c) { s.authEndpoints_->authenticate(c); }));
  Endpoint me;
  me.access = Access::anyone;
  me.needsStorage = false;
  add(RouteId::me, true, {"me"}, me.with(kGet, [](S s, C c) { s.finish(*c, AuthEndpoints::me(*c)); }));
  Endpoint logout;
  logout.readersMayWrite = true;
  add(RouteId::logout, true, {"logout"}, logout.with(kPost, [](S s, C c) { s.authEndpoints_->logout(c); }));
  Endpoint openapi;
  openapi.ownMediaType = true;
  openapi.access = Access::open;
  openapi.needsStorage = false;
  add(RouteId::openapi, true, {"openapi"}, openapi.with(kGet, [](S s, C c) {
        s.finish(*c, s.system_.openApi(c->match.suffix == Suffix::xml));
      }));
  add(RouteId::accountUsers, true, {"_users"},
      Endpoint{}.with(kGet, [](S s, C c) { s.finish(*c, s.system_.listAccounts(c->query, c->isAdmin(), false)); }));
  add(RouteId::accountKeys, true, {"_apikeys"},
      Endpoint{}.with(kGet, [](S s, C c) { s.finish(*c, s.system_.listAccounts(c->query, c->isAdmin(), true)); }));

  // Per collection.
  add(RouteId::collection, true, {"{collection}"},
      Endpoint{}
          .with(kGet, [](S s, C c) { s.finish(*c, s.reads_->list(*c)); })
          .with(kPost, [](S s, C c) { s.writes_->create(c); })
          .with(kPatch, [](S s, C c) { s.writes_->patchMany(c); })
          .with(kDelete, [](S s, C c) { s.writes_->removeMany(c); }));
  // Before {id}: "events" is no id.
  Endpoint events;
  events.ownMediaType = true;
  add(RouteId::collectionEvents, true, {"{collection}", "events"},
      events.with(kGet, [](S s, C c) { s.feed_->subscribe(c); }));
  Endpoint record;
  // A GET stays on the I/O thread even when the store blocks: its read is
  // pipelined (Store::getAsync).
  record.getOnLoop = [](S s, C c) { s.getRecordOnLoop(c); };
  add(RouteId::record, true, {"{collection}", "{id}"},
      record.with(kGet, [](S s, C c) { s.finish(*c, s.reads_->get(*c)); })
          .with(kPut, [](S s, C c) { s.writes_->replace(c); })
          .with(kPatch, [](S s, C c) { s.writes_->patch(c); })
          .with(kDelete, [](S s, C c) { s.writes_->remove(c); }));
  return t;
}

std::vector<RouteDef> Service::routes(bool metrics) { return routesOf(endpointTable(), metrics); }

std::vector<RouteDef> Service::routesOf(const std::vector<Endpoint>& table, bool metrics) {
  std::vector<RouteDef> defs;
  // The router tries routes in this order: the fixed ones before the
  // parameterised ones of the same length.
  for (const Endpoint& e : table)
    if (metrics || e.id != RouteId::metrics) defs.push_back({e.id, e.underBase, e.segments, e.methods});
  return defs;
}

Service::Endpoint& Service::Endpoint::with(Method method, HandlerFn fn) {
  methods |= method;
  handlers[handlerSlot(method)] = fn;
  return *this;
}

Service::Endpoint::HandlerFn Service::Endpoint::handlerFor(std::string_view method) const {
  uint16_t bit = methodBit(method);
  if (bit == kHead) bit = kGet;
  if (!(methods & bit)) return nullptr;
  return handlers[handlerSlot(static_cast<Method>(bit))];
}

size_t Service::Endpoint::handlerSlot(Method m) {
  switch (m) {
    case kGet: return 0;
    case kPost: return 1;
    case kPut: return 2;
    case kPatch: return 3;
    case kDelete: return 4;
    default: throw std::logic_error("no handler slot for this method");
  }
}

}  // namespace restd::api
