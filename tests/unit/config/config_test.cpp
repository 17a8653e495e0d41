#include "config/config.h"

#include <gtest/gtest.h>

#include "common/pattern.h"

namespace restd {
namespace {

std::optional<Config> parse(std::string_view toml, ConfigErrors& errors) {
  return parseConfig(toml, "test.toml", errors);
}

// The single error a bad config produces.
std::string onlyError(std::string_view toml) {
  ConfigErrors errors;
  auto c = parse(toml, errors);
  EXPECT_FALSE(c.has_value()) << toml;
  EXPECT_EQ(errors.messages.size(), 1u) << toml;
  return errors.messages.empty() ? "" : errors.messages[0];
}

TEST(Config, EmptyFileGivesTheDefaults) {
  ConfigErrors errors;
  auto c = parse("", errors);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->server.listen.toString(), "127.0.0.1:8080");
  EXPECT_EQ(c->server.basePath, "/api/v2");
  EXPECT_EQ(c->server.maxBodyBytes, 1048576u);
  EXPECT_EQ(c->server.maxBatchItems, 1000u);
  EXPECT_EQ(c->server.envelope, "standard");
  EXPECT_EQ(c->storage.url, "sqlite:restd.db");
  EXPECT_EQ(c->storage.durability, "full");
  EXPECT_EQ(c->auth.tokenTtl, std::chrono::hours(24));
  EXPECT_TRUE(c->auth.basic);
  EXPECT_EQ(c->auth.lockoutAttempts, 5);
  EXPECT_EQ(c->auth.lockoutWindow, std::chrono::minutes(15));
  EXPECT_EQ(c->rateLimit.requestsPerMinute, 600);
  EXPECT_TRUE(c->collections.empty());
}

TEST(Config, TheSpecExampleLoads) {
  ConfigErrors errors;
  auto c = parse(R"(
[server]
listen = "0.0.0.0:9000"
base_path = "/v1"
timezone = "+05:30"
[collections.things]
singular = "thing"
id_prefix = "thing"
slug_from = "name"
visibility = "owner"
anonymous_read = true
extra_fields = "allow"
[collections.things.fields]
name  = { type = "string", required = true, max_length = 200 }
price = { type = "number", min = 0 }
tags  = { type = "array" }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
code  = { type = "string", unique = true, pattern = "^[A-Z]{3}[0-9]{3}$" }
)", errors);
  ASSERT_TRUE(c) << (errors.messages.empty() ? "" : errors.messages[0]);
  ASSERT_EQ(c->collections.size(), 1u);
  const auto& t = c->collections[0];
  EXPECT_EQ(t.slugFrom, "name");
  EXPECT_EQ(t.visibility, Visibility::owner);
  EXPECT_TRUE(t.anonymousRead);
  EXPECT_EQ(t.extraFields, ExtraFields::allow);
  // fields keep the order they are written in, not alphabetical order
  ASSERT_EQ(t.fields.size(), 5u);
  EXPECT_EQ(t.fields[0].name, "name");
  EXPECT_EQ(t.fields[1].name, "price");
  EXPECT_EQ(t.fields[4].name, "code");
  EXPECT_EQ(t.fields[3].defaultJson, "\"draft\"");
  EXPECT_EQ(t.fields[3].enumJson.size(), 2u);
  EXPECT_EQ(t.fields[1].min, 0.0);
  EXPECT_TRUE(t.fields[4].unique);
}

TEST(Config, SingularAndPrefixDefaults) {
  ConfigErrors errors;
  auto c = parse("[collections.people.fields]\nname = { type = \"string\" }\n[collections.news]\n", errors);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->collections[0].singular, "people");  // no trailing s: unchanged
  EXPECT_EQ(c->collections[1].singular, "new");
  EXPECT_EQ(c->collections[1].idPrefix, "new");
}

TEST(Config, ErrorsNameFileLineColumnAndKey) {
  EXPECT_EQ(onlyError("[server]\nthreads = -1\n"), "test.toml:2:11: server.threads: must be between 0 and 1024");
  EXPECT_EQ(onlyError("[server]\nlisten = \"nowhere\"\n"),
            "test.toml:2:10: server.listen: must be HOST:PORT, e.g. \"127.0.0.1:8080\"");
  EXPECT_EQ(onlyError("[server]\nthreds = 2\n"), "test.toml:2:1: server.threds: unknown key; did you mean \"threads\"?");
  EXPECT_EQ(onlyError("[sever]\n"), "test.toml:1:2: sever: unknown key; did you mean \"server\"?");
  EXPECT_EQ(onlyError("[server]\nzzzzzz = 2\n"), "test.toml:2:1: server.zzzzzz: unknown key");
}

TEST(Config, TomlSyntaxErrorsCarryAPosition) {
  std::string e = onlyError("[server\nthreads = 1\n");
  EXPECT_EQ(e.rfind("test.toml:1:", 0), 0u) << e;
}

TEST(Config, RejectsBadValues) {
  EXPECT_NE(onlyError("[server]\nenvelope = \"fancy\"\n").find("server.envelope"), std::string::npos);
  EXPECT_NE(onlyError("[server]\ntimezone = \"Mars/Olympus\"\n").find("server.timezone"), std::string::npos);
  EXPECT_NE(onlyError("[server]\nbase_path = \"api/\"\n").find("server.base_path"), std::string::npos);
  EXPECT_NE(onlyError("[storage]\nurl = \"mysql://x\"\n").find("storage.url"), std::string::npos);
  EXPECT_NE(onlyError("[auth]\ntoken_ttl = \"1 day\"\n").find("auth.token_ttl"), std::string::npos);
  EXPECT_NE(onlyError("[cors]\nallow_origins = \"*\"\n").find("cors.allow_origins"), std::string::npos);
  EXPECT_NE(onlyError("[rate_limit]\nrequests_per_minute = \"lots\"\n").find("rate_limit.requests_per_minute"),
            std::string::npos);
}

TEST(Config, IanaTimezonesAreAccepted) {
  ConfigErrors errors;
  EXPECT_TRUE(parse("[server]\ntimezone = \"Europe/Paris\"\n", errors)) << errors.messages[0];
}

TEST(Config, RejectsBadCollectionsAndFields) {
  auto has = [](std::string_view toml, std::string_view needle) {
    std::string e = onlyError(toml);
    EXPECT_NE(e.find(needle), std::string::npos) << e;
  };
  has("[collections.Things]\n", "collections.Things: collection names must match");
  has("[collections.me]\n", "collections.me: \"me\" is a reserved path");
  has("[collections.t.fields]\nid = { type = \"string\" }\n", "collections.t.fields.id: \"id\" is a system field");
  has("[collections.t.fields]\nslug = { type = \"string\" }\n", "\"slug\" is a system field");
  has("[collections.t.fields]\npage = { type = \"string\" }\n", "is a list query parameter");
  has("[collections.t.fields]\naccess_token = { type = \"string\" }\n", "is a list query parameter");
  has("[collections.t.fields]\npretty = { type = \"boolean\" }\n", "is a list query parameter");
  has("[collections.t.fields]\nx = { type = \"text\" }\n", "collections.t.fields.x.type: unknown type \"text\"");
  has("[collections.t.fields]\nx = { required = true }\n", "collections.t.fields.x: needs a type");
  has("[collections.t.fields]\nx = { type = \"string\", min = 1 }\n", "only integer and number fields take min");
  has("[collections.t.fields]\nx = { type = \"integer\", default = \"a\" }\n", "x.default: must be of the field's type");
  has("[collections.t.fields]\nx = { type = \"string\", pattern = \"([\" }\n", "not a valid regular expression");
  has("[collections.t.fields]\nx = { type = \"string\", enum = [\"a\"], default = \"b\" }\n",
      "is not one of the enum values");
  has("[collections.t]\nslug_from = \"title\"\n", "collections.t.slug_from: names no declared field");
  has("[collections.t]\nvisibility = \"secret\"\n", "collections.t.visibility");
  has("[collections.t.fields]\nx = { type = \"string\", colour = \"red\" }\n", "collections.t.fields.x.colour: unknown key");
}

TEST(Config, ReportsEveryMistakeAtOnce) {
  ConfigErrors errors;
  EXPECT_FALSE(parse("[server]\nthreads = -1\nenvelope = \"x\"\n[storage]\nurl = \"nope\"\n", errors));
  EXPECT_EQ(errors.messages.size(), 3u);
}

TEST(Config, ServerPathsAreReservedOnlyWithoutABasePath) {
  ConfigErrors errors;
  EXPECT_TRUE(parse("[collections.docs]\n", errors));
  EXPECT_NE(onlyError("[server]\nbase_path = \"\"\n[collections.docs]\n").find("reserved"), std::string::npos);
}

TEST(Config, DurationsAndListenAddresses) {
  EXPECT_EQ(parseDuration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(parseDuration("15m"), std::chrono::minutes(15));
  EXPECT_EQ(parseDuration("24h"), std::chrono::hours(24));
  EXPECT_EQ(parseDuration("7d"), std::chrono::hours(24 * 7));
  EXPECT_EQ(parseDuration("0s"), std::nullopt);
  EXPECT_EQ(parseDuration("5"), std::nullopt);
  EXPECT_EQ(parseDuration("5w"), std::nullopt);
  EXPECT_EQ(parseDuration("-5s"), std::nullopt);
  EXPECT_EQ(parseListen("127.0.0.1:0")->port, 0);
  EXPECT_EQ(parseListen("[::1]:8080")->host, "::1");
  EXPECT_EQ(parseListen("localhost:65535")->port, 65535);
  EXPECT_EQ(parseListen("localhost:65536"), std::nullopt);
  EXPECT_EQ(parseListen(":80")->host, "0.0.0.0");  // ":PORT": every IPv4 interface
  EXPECT_EQ(parseListen(":80")->port, 80);
  EXPECT_EQ(parseListen("8080")->host, "127.0.0.1");  // a bare port: the default host
  EXPECT_EQ(parseListen("8080")->port, 8080);
  EXPECT_EQ(parseListen("99999"), std::nullopt);
  EXPECT_EQ(parseListen(":"), std::nullopt);
  EXPECT_EQ(parseListen("host"), std::nullopt);
}

TEST(Config, NamesFollowTheRule) {
  EXPECT_TRUE(isValidName("things"));
  EXPECT_TRUE(isValidName("a1_b"));
  EXPECT_TRUE(isValidName("select"));  // SQL keywords are fine
  EXPECT_FALSE(isValidName("1things"));
  EXPECT_FALSE(isValidName("Things"));
  EXPECT_FALSE(isValidName(""));
  EXPECT_FALSE(isValidName(std::string(64, 'a')));
  EXPECT_TRUE(isValidName(std::string(63, 'a')));
}

TEST(Config, DemoAndInitConfigsAreValid) {
  ConfigErrors errors;
  auto demo = parseConfig(demoConfigToml(), "<demo>", errors);
  ASSERT_TRUE(demo) << errors.messages[0];
  ASSERT_EQ(demo->collections.size(), 3u);
  EXPECT_EQ(demo->collections[0].name, "things");
  EXPECT_EQ(demo->collection("announcements")->slugFrom, "name");
  EXPECT_TRUE(demo->collection("announcements")->anonymousRead);
  EXPECT_EQ(demo->collection("connections")->visibility, Visibility::owner);
  EXPECT_EQ(demo->storage.url, "sqlite:restd-demo.db");
  auto init = parseConfig(initConfigToml(), "restd.toml", errors);
  ASSERT_TRUE(init) << errors.messages[0];
  EXPECT_EQ(init->collections.size(), 1u);
}

}  // namespace
}  // namespace restd

namespace restd {
namespace {

TEST(Pattern, MatchesAndRefusesBadSyntax) {
  std::string error;
  auto p = Pattern::compile("^[A-Z]{3}[0-9]{3}$", error);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->matches("ABC123"));
  EXPECT_FALSE(p->matches("abc123"));
  EXPECT_FALSE(p->matches(std::string("ABC\0" "123", 7)));
  EXPECT_FALSE(Pattern::compile("([", error));
  EXPECT_FALSE(error.empty());
}

TEST(Pattern, CatastrophicBacktrackingStopsAtTheLimit) {
  std::string error;
  auto p = Pattern::compile("^(a+)+$", error);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->matches(std::string(5000, 'a') + "!"));  // returns (no match), does not hang or crash
  EXPECT_TRUE(p->matches(std::string(100000, 'a')));
}

}  // namespace
}  // namespace restd

TEST(Config, StorageUrlsGivenByHand) {
  using restd::normalizeStorageUrl;
  using restd::resolveSqlitePath;
  EXPECT_EQ(normalizeStorageUrl("restd.db"), "sqlite:restd.db");
  EXPECT_EQ(normalizeStorageUrl("data/app.db"), "sqlite:data/app.db");
  EXPECT_EQ(normalizeStorageUrl("sqlite::memory:"), "sqlite::memory:");
  EXPECT_EQ(normalizeStorageUrl("postgres://u@h/db"), "postgres://u@h/db");
  EXPECT_EQ(normalizeStorageUrl("ftp://x"), std::nullopt);
  EXPECT_EQ(normalizeStorageUrl("c:x"), std::nullopt);
  EXPECT_EQ(normalizeStorageUrl(""), std::nullopt);
  EXPECT_EQ(resolveSqlitePath("sqlite:data/app.db", "/srv/api"), "sqlite:/srv/api/data/app.db");
  EXPECT_EQ(resolveSqlitePath("sqlite:../x.db", "/srv/api"), "sqlite:/srv/x.db");
  EXPECT_EQ(resolveSqlitePath("sqlite:/abs.db", "/srv/api"), "sqlite:/abs.db");
  EXPECT_EQ(resolveSqlitePath("sqlite::memory:", "/srv/api"), "sqlite::memory:");
  EXPECT_EQ(resolveSqlitePath("postgres://h/db", "/srv/api"), "postgres://h/db");
}

TEST(Config, DidYouMeanPicksTheClosestKnownWordOrNone) {
  using restd::didYouMean;
  EXPECT_EQ(didYouMean("lisen", {"listen", "threads"}), "did you mean \"listen\"?");
  EXPECT_EQ(didYouMean("--thread", {"--listen", "--threads"}), "did you mean \"--threads\"?");
  EXPECT_EQ(didYouMean("zzzzzz", {"listen", "threads"}), "");
  EXPECT_EQ(didYouMean("x", {}), "");
}
