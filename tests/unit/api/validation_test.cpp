#include "api/validation.h"

#include <gtest/gtest.h>

#include "api/list_query.h"
#include "common/json.h"

namespace restd::api {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigErrors errors;
    auto c = parseConfig(R"(
[collections.things.fields]
name  = { type = "string", required = true, max_length = 5 }
price = { type = "number", min = 0 }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
meta  = { type = "object" }
)", "t.toml", errors);
    ASSERT_TRUE(c);
    config = std::move(*c);
    rules = CollectionRules::compile(config.collections[0]);
  }
  rapidjson::Document json(const char* text) {
    rapidjson::Document d;
    std::string why;
    EXPECT_TRUE(parseStrictJson(text, d, why)) << why;
    return d;
  }
  Config config;
  CollectionRules rules;
};

TEST_F(ValidationTest, CreateFillsDefaultsAndNulls) {
  rapidjson::Document out;
  auto e = buildValues(rules, json(R"({"name":"ab"})"), WriteMode::create, nullptr, out);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(toJsonText(out), R"({"name":"ab","price":null,"state":"draft","meta":null})");
}

TEST_F(ValidationTest, OneErrorWithDetailsInConfigOrderThenUnknownInBodyOrder) {
  rapidjson::Document out;
  auto e = buildValues(rules, json(R"({"zzz":1,"price":-1,"id":"x","name":"toolong"})"), WriteMode::create, nullptr,
                       out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->reason, Reason::field_rule);
  EXPECT_EQ(e->field, "name");
  EXPECT_EQ(e->type(), "validation");
  ASSERT_EQ(e->details.size(), 4u);
  EXPECT_EQ(e->details[0].field, "name");
  EXPECT_EQ(e->details[1].field, "price");
  EXPECT_EQ(e->details[2].field, "zzz");
  EXPECT_EQ(e->details[2].reason, Reason::unknown_field);
  EXPECT_EQ(e->details[3].field, "id");
  EXPECT_EQ(e->details[3].reason, Reason::read_only_field);
}

TEST_F(ValidationTest, PatchMergesAndChecksOnlyWhatChanged) {
  rapidjson::Document current = json(R"({"name":"ab","price":1,"state":"live","meta":{"a":1,"b":{"c":2}}})");
  rapidjson::Document out;
  auto e = buildValues(rules, json(R"({"price":null,"meta":{"b":{"c":null,"d":3}}})"), WriteMode::patch, &current, out);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(toJsonText(out), R"({"name":"ab","price":null,"state":"live","meta":{"a":1,"b":{"d":3}}})");
  auto req = buildValues(rules, json(R"({"name":null})"), WriteMode::patch, &current, out);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->reason, Reason::field_required);
}

TEST_F(ValidationTest, MergePatchFollowsRfc7396) {
  rapidjson::Document target = json(R"({"a":"b","c":{"d":"e","f":"g"}})");
  rapidjson::Document patch = json(R"({"a":"z","c":{"f":null}})");
  mergePatch(target, patch, target.GetAllocator());
  EXPECT_EQ(toJsonText(target), R"({"a":"z","c":{"d":"e"}})");
  rapidjson::Document t2 = json(R"({"a":[1,2]})");
  mergePatch(t2, json(R"({"a":[3]})"), t2.GetAllocator());
  EXPECT_EQ(toJsonText(t2), R"({"a":[3]})");
}

TEST_F(ValidationTest, ListParametersBecomeAStoreQuery) {
  ListRequest lr;
  QueryParams q{{"page", "3"}, {"per_page", "10"}, {"sort", "-price,name"}, {"price[gte]", "2.5"},
                {"state[in]", "draft,live"}, {"name[like]", "a*\\*%"}, {"fields", "id,name"}};
  auto e = parseListRequest(rules, q, lr);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(lr.query.offset, 20);
  EXPECT_EQ(lr.query.limit, 10);
  ASSERT_EQ(lr.query.sort.size(), 2u);
  EXPECT_TRUE(lr.query.sort[0].descending);
  ASSERT_EQ(lr.query.filters.size(), 3u);
  EXPECT_EQ(std::get<double>(lr.query.filters[0].values[0]), 2.5);
  EXPECT_EQ(lr.query.filters[1].values.size(), 2u);
  // The pattern goes to the store as written; each engine makes its own LIKE of it.
  EXPECT_EQ(std::get<std::string>(lr.query.filters[2].values[0]), "a*\\*%");
  EXPECT_EQ(lr.fields, (std::vector<std::string>{"id", "name"}));
}

TEST_F(ValidationTest, ListParameterErrors) {
  auto reason = [&](QueryParams q) {
    ListRequest lr;
    auto e = parseListRequest(rules, q, lr);
    return e ? e->reason : Reason::internal;
  };
  EXPECT_EQ(reason({{"per_page", "101"}}), Reason::invalid_parameter);
  EXPECT_EQ(reason({{"page", "0"}}), Reason::invalid_parameter);
  EXPECT_EQ(reason({{"colour", "red"}}), Reason::unknown_parameter);
  EXPECT_EQ(reason({{"price[near]", "1"}}), Reason::unknown_parameter);
  EXPECT_EQ(reason({{"price", "cheap"}}), Reason::invalid_parameter);
  EXPECT_EQ(reason({{"sort", "meta"}}), Reason::invalid_parameter);
  EXPECT_EQ(reason({{"cursor", ""}, {"page", "2"}}), Reason::invalid_parameter);
  EXPECT_EQ(reason({{"cursor", "!!!"}}), Reason::invalid_parameter);
}

TEST_F(ValidationTest, LinkHeaders) {
  ListRequest lr;
  lr.page = 2;
  QueryParams q{{"page", "2"}, {"access_token", "secret"}, {"sort", "name"}};
  std::string link = linkHeader("/api/v2/things", q, lr, 5, true, std::nullopt);
  EXPECT_EQ(link,
            "</api/v2/things?page=1&sort=name>; rel=\"first\", </api/v2/things?page=1&sort=name>; rel=\"prev\", "
            "</api/v2/things?page=3&sort=name>; rel=\"next\", </api/v2/things?page=5&sort=name>; rel=\"last\"");
  EXPECT_EQ(link.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace restd::api
