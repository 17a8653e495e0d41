#include "api/validation.h"

#include <gtest/gtest.h>

#include "common/json.h"
#include "things_config.h"

namespace restd::api {
namespace {

class ValidationTest : public testing::ThingsTest {
 protected:
  rapidjson::Document json(const char* text) {
    rapidjson::Document d;
    std::string why;
    EXPECT_TRUE(parseStrictJson(text, d, why)) << why;
    return d;
  }
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

}  // namespace
}  // namespace restd::api
