#include "api/negotiation.h"

#include <gtest/gtest.h>

#include "http/message.h"

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

TEST(Http, AcceptEncodingGzip) {
  EXPECT_TRUE(http::acceptsGzip("gzip"));
  EXPECT_TRUE(http::acceptsGzip("deflate, gzip;q=0.5"));
  EXPECT_TRUE(http::acceptsGzip("*"));
  EXPECT_FALSE(http::acceptsGzip(""));
  EXPECT_FALSE(http::acceptsGzip("gzip;q=0"));
  EXPECT_FALSE(http::acceptsGzip("br, *;q=0"));
  EXPECT_FALSE(http::acceptsGzip("*, gzip;q=0"));
}

TEST(Http, RedactsAccessTokens) {
  EXPECT_EQ(http::redactAccessToken("/me?access_token=abc&x=1"), "/me?access_token=REDACTED&x=1");
  EXPECT_EQ(http::redactAccessToken("/me?x=1&access_token=abc"), "/me?x=1&access_token=REDACTED");
  EXPECT_EQ(http::redactAccessToken("/me"), "/me");
  EXPECT_EQ(http::redactAccessToken("/me?my_access_token=a"), "/me?my_access_token=a");
}

TEST(Http, GzipRoundTripsThroughZlib) {
  std::string in(5000, 'x'), out;
  ASSERT_TRUE(http::gzipCompress(in, out));
  EXPECT_LT(out.size(), in.size());
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
}

}  // namespace
}  // namespace restd::api
