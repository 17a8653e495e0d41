#include "http/message.h"

#include <gtest/gtest.h>

#include <string>

namespace restd::http {
namespace {

TEST(Http, AcceptEncodingGzip) {
  EXPECT_TRUE(acceptsGzip("gzip"));
  EXPECT_TRUE(acceptsGzip("deflate, gzip;q=0.5"));
  EXPECT_TRUE(acceptsGzip("*"));
  EXPECT_FALSE(acceptsGzip(""));
  EXPECT_FALSE(acceptsGzip("gzip;q=0"));
  EXPECT_FALSE(acceptsGzip("br, *;q=0"));
  EXPECT_FALSE(acceptsGzip("*, gzip;q=0"));
}

TEST(Http, EntityTagListsCompareWeakOrStrong) {
  EXPECT_TRUE(entityTagListMatches("*", "\"a\"", false));
  EXPECT_TRUE(entityTagListMatches("\"x\", \"a\"", "\"a\"", false));
  EXPECT_TRUE(entityTagListMatches("W/\"a\"", "\"a\"", true));
  EXPECT_FALSE(entityTagListMatches("W/\"a\"", "\"a\"", false));
  EXPECT_FALSE(entityTagListMatches("\"a\"", "W/\"a\"", false));
  EXPECT_FALSE(entityTagListMatches("", "\"a\"", true));
}

TEST(Http, RedactsAccessTokens) {
  EXPECT_EQ(redactAccessToken("/me?access_token=abc&x=1"), "/me?access_token=REDACTED&x=1");
  EXPECT_EQ(redactAccessToken("/me?x=1&access_token=abc"), "/me?x=1&access_token=REDACTED");
  EXPECT_EQ(redactAccessToken("/me"), "/me");
  EXPECT_EQ(redactAccessToken("/me?my_access_token=a"), "/me?my_access_token=a");
}

TEST(Http, GzipRoundTripsThroughZlib) {
  std::string in(5000, 'x'), out;
  ASSERT_TRUE(gzipCompress(in, out));
  EXPECT_LT(out.size(), in.size());
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x8b);
}

}  // namespace
}  // namespace restd::http
