// SystemEndpoints on its own: what it answers from the config, the store
// and the maintenance flag, without a Service or a request.
#include "api/system.h"

#include <gtest/gtest.h>

#include <atomic>

#include "in_process_api.h"

namespace restd::api::testing {
namespace {

constexpr std::string_view kToml = R"toml(
[collections.things.fields]
name = { type = "string", required = true }
)toml";

TEST(SystemEndpoints, ProbesFollowStorageAndMaintenance) {
  InProcessApi api(kToml);
  std::atomic<int64_t> maintenance{-1};
  SystemEndpoints system(api.config(), api.store(), nullptr, maintenance);
  EXPECT_EQ(system.healthz().status, 200);
  render::Reply ready = system.readyz();
  EXPECT_EQ(ready.status, 200);
  EXPECT_STREQ(ready.data["status"].GetString(), "ready");
  maintenance = 30;
  render::Reply held = system.readyz();
  EXPECT_EQ(held.status, 503);
  EXPECT_STREQ(held.data["status"].GetString(), "maintenance");
  EXPECT_EQ(system.metrics().status, 404);  // no metrics configured
}

TEST(SystemEndpoints, TheIndexListsCollectionsAndAccountsAreForAdmins) {
  InProcessApi api(kToml);
  std::atomic<int64_t> maintenance{-1};
  SystemEndpoints system(api.config(), api.store(), nullptr, maintenance);
  render::Reply index = system.index();
  ASSERT_EQ(index.data["collections"].Size(), 1u);
  EXPECT_STREQ(index.data["collections"][0]["url"].GetString(), "/api/v2/things");
  QueryParams none;
  EXPECT_EQ(system.listAccounts(none, false, false).status, 403);
  api.addUser("ann", auth::Role::reader, "ann-password");
  render::Reply users = system.listAccounts(none, true, false);
  ASSERT_EQ(users.status, 200);
  ASSERT_EQ(users.data.Size(), 1u);
  EXPECT_STREQ(users.data[0]["userName"].GetString(), "ann");
  EXPECT_FALSE(users.data[0].HasMember("passwordHash"));
  QueryParams odd{{"sort", "x"}};
  EXPECT_EQ(system.listAccounts(odd, true, false).status, 400);
  EXPECT_EQ(system.openApi(true).status, 404);
  EXPECT_EQ(system.openApi(false).status, 200);
  EXPECT_EQ(system.webAsset("nothing.js").status, 404);
}

}  // namespace
}  // namespace restd::api::testing
