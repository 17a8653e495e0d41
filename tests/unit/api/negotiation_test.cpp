#include "api/negotiation.h"

#include <gtest/gtest.h>

namespace restd::api {
namespace {

using render::Format;

TEST(Negotiation, AcceptPicksJsonOrXml) {
  EXPECT_EQ(negotiateFormat(""), Format::json);
  EXPECT_EQ(negotiateFormat("*/*"), Format::json);
  EXPECT_EQ(negotiateFormat("application/json"), Format::json);
  EXPECT_EQ(negotiateFormat("application/xml"), Format::xml);
  EXPECT_EQ(negotiateFormat("text/xml"), Format::xml);
  EXPECT_EQ(negotiateFormat("application/xml;q=0.5, application/json;q=0.9"), Format::json);
  EXPECT_EQ(negotiateFormat("application/json;q=0.1, text/xml"), Format::xml);
  EXPECT_EQ(negotiateFormat("application/*"), Format::json);
  EXPECT_EQ(negotiateFormat("text/html, */*;q=0.1"), Format::json);
}

TEST(Negotiation, AcceptAllowingNeitherIsRefused) {
  EXPECT_EQ(negotiateFormat("text/html"), std::nullopt);
  EXPECT_EQ(negotiateFormat("image/png, text/plain"), std::nullopt);
  EXPECT_EQ(negotiateFormat("application/json;q=0"), std::nullopt);
  // A weight that is not a qvalue selects nothing (common/strings.h).
  EXPECT_EQ(negotiateFormat("application/xml;q=0.9x, application/json;q=0.1"), Format::json);
  EXPECT_EQ(negotiateFormat("application/json;q="), std::nullopt);
}

TEST(Query, DecodesPairs) {
  QueryParams q;
  ASSERT_TRUE(parseQuery("a=1&b=two+words&c=%2A&flag&&d=", q));
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(*findParam(q, "b"), "two words");
  EXPECT_EQ(*findParam(q, "c"), "*");
  EXPECT_EQ(*findParam(q, "flag"), "");
  EXPECT_EQ(findParam(q, "zzz"), nullptr);
  QueryParams bad;
  EXPECT_FALSE(parseQuery("a=%zz", bad));
}

}  // namespace
}  // namespace restd::api
