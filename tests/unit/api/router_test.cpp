#include "api/router.h"

#include <gtest/gtest.h>

#include "api/service.h"
#include "config/names.h"

namespace restd::api {
namespace {

Router makeRouter(std::string base = "/api/v2") {
  return Router(std::move(base), {"things", "people"},
                {
                    {RouteId::healthz, false, {"healthz"}, kGet},
                    {RouteId::docsErrors, false, {"docs", "errors"}, kGet},
                    {RouteId::index, true, {}, kGet},
                    {RouteId::authenticate, true, {"authenticate"}, kPost},
                    {RouteId::collection, true, {"{collection}"}, kGet | kPost | kPatch | kDelete},
                    {RouteId::collectionEvents, true, {"{collection}", "events"}, kGet},
                    {RouteId::record, true, {"{collection}", "{id}"}, kGet | kPut | kPatch | kDelete},
                });
}

using O = RouteMatch::Outcome;

TEST(Router, MatchesFixedAndParameterisedRoutes) {
  Router r = makeRouter();
  auto m = r.match("GET", "/api/v2/things/thing_01abc");
  ASSERT_EQ(m.outcome, O::found);
  EXPECT_EQ(m.route, RouteId::record);
  EXPECT_EQ(m.collection, "things");
  EXPECT_EQ(m.id, "thing_01abc");
  EXPECT_EQ(m.suffix, Suffix::none);
  EXPECT_EQ(m.resource, "/things/thing_01abc");

  EXPECT_EQ(r.match("GET", "/api/v2/things/events").route, RouteId::collectionEvents);
  EXPECT_EQ(r.match("POST", "/api/v2/authenticate").route, RouteId::authenticate);
  EXPECT_EQ(r.match("GET", "/healthz").route, RouteId::healthz);
  EXPECT_EQ(r.match("GET", "/docs/errors").route, RouteId::docsErrors);
  EXPECT_EQ(r.match("GET", "/api/v2").route, RouteId::index);
  EXPECT_EQ(r.match("GET", "/api/v2/").route, RouteId::index);
}

TEST(Router, UnknownPathsAndCollectionsAreNotFound) {
  Router r = makeRouter();
  EXPECT_EQ(r.match("GET", "/api/v2/nothings").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/api/v2/things/a/b").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/api/v2x/things").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/things").outcome, O::notFound);        // collections live under base_path
  EXPECT_EQ(r.match("GET", "/api/v2/healthz").outcome, O::notFound);  // server paths live outside it
  EXPECT_EQ(r.match("GET", "").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "relative").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/api/v2//things").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/api/v2/things/%zz").outcome, O::notFound);
  EXPECT_EQ(r.match("GET", "/api/v2/things/a%00b").outcome, O::notFound);
}

TEST(Router, MethodOutcomes) {
  Router r = makeRouter();
  auto m = r.match("PUT", "/healthz");
  EXPECT_EQ(m.outcome, O::methodNotAllowed);
  EXPECT_EQ(allowHeader(m.allowed), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.match("HEAD", "/healthz").outcome, O::found);
  EXPECT_EQ(r.match("OPTIONS", "/api/v2/authenticate").outcome, O::found);
  EXPECT_EQ(allowHeader(r.match("GET", "/api/v2/things").allowed), "GET, HEAD, POST, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(r.match("BREW", "/healthz").outcome, O::notImplemented);
  EXPECT_EQ(r.match("BREW", "/nowhere").outcome, O::notFound);  // the path check comes first
}

TEST(Router, FormatSuffixIsSplitOffAndKeptInTheResource) {
  Router r = makeRouter();
  auto m = r.match("GET", "/api/v2/things.xml");
  ASSERT_EQ(m.outcome, O::found);
  EXPECT_EQ(m.route, RouteId::collection);
  EXPECT_EQ(m.suffix, Suffix::xml);
  EXPECT_EQ(m.resource, "/things.xml");
  auto one = r.match("GET", "/api/v2/things/abc.json");
  EXPECT_EQ(one.id, "abc");
  EXPECT_EQ(one.suffix, Suffix::json);
  EXPECT_EQ(r.match("GET", "/api/v2/.json").outcome, O::notFound);
}

TEST(Router, PercentEncodedIdsAreDecoded) {
  Router r = makeRouter();
  EXPECT_EQ(r.match("GET", "/api/v2/things/my%20thing").id, "my thing");
  EXPECT_EQ(r.match("GET", "/api/v2/th%69ngs").collection, "things");
}

TEST(Router, EmptyBasePathPutsServerPathsFirst) {
  Router r = makeRouter("");
  EXPECT_EQ(r.match("GET", "/things").route, RouteId::collection);
  EXPECT_EQ(r.match("GET", "/healthz").route, RouteId::healthz);
  EXPECT_EQ(r.match("GET", "/").route, RouteId::index);
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  std::string out;
  EXPECT_TRUE(percentDecode("a%2Fb", out));
  EXPECT_EQ(out, "a/b");
  EXPECT_FALSE(percentDecode("a%2", out));
  EXPECT_FALSE(percentDecode("%", out));
  EXPECT_FALSE(percentDecode("%G0", out));
  EXPECT_FALSE(percentDecode("%00", out));
}

TEST(Router, EveryFixedPathIsANameCollectionsMayNotTake) {
  // config/ refuses the names in config/names.h; a fixed route missing from
  // them could be hidden by a collection of that name.
  for (bool metrics : {false, true}) {
    for (const RouteDef& d : Service::routes(metrics)) {
      if (d.segments.empty() || d.segments[0].starts_with("{")) continue;
      const std::string& first = d.segments[0];
      if (first.starts_with("_")) continue;  // no collection name starts with "_"
      if (d.underBase)
        EXPECT_TRUE(isOneOf(kApiPaths, first)) << first;
      else
        EXPECT_TRUE(isOneOf(kServerPaths, first)) << first;
    }
  }
}

}  // namespace
}  // namespace restd::api
