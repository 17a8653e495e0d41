#include "common/strings.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace restd {
namespace {

TEST(Strings, CaseAndSpace) {
  EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(iequals("gzip", "gzip2"));
  EXPECT_EQ(trim(" \t a b \t"), "a b");
  EXPECT_EQ(lower("ApPlication/JSON"), "application/json");
}

TEST(Strings, QValuesAreReadAsRfc9110WritesThem) {
  EXPECT_EQ(qValue(""), 1);
  EXPECT_EQ(qValue("level=1"), 1);
  EXPECT_EQ(qValue("q=0.5"), 0.5);
  EXPECT_EQ(qValue(" Q=0.125 ; level=1"), 0.125);
  EXPECT_EQ(qValue("level=1; q=1.000"), 1);
  EXPECT_EQ(qValue("q=0"), 0);
  EXPECT_EQ(qValue("q=1"), 1);
  // Not qvalues: weigh 0, never chosen (the Accept parser once read "0.5x"
  // as 0.5 and "q=" as 1).
  for (const char* bad : {"q=", "q=0.5x", "q=1.5", "q=2", "q=-1", "q=0.1234", "q=.5", "q=abc", "q=1.001"})
    EXPECT_EQ(qValue(bad), 0) << bad;
}

TEST(Strings, WeightedListsSkipEmptyElements) {
  std::vector<std::pair<std::string, double>> seen;
  forEachWeighted(" gzip;q=0.5, ,br,*;q=0", [&](std::string_view v, double q) { seen.emplace_back(v, q); });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], (std::pair<std::string, double>{"gzip", 0.5}));
  EXPECT_EQ(seen[1], (std::pair<std::string, double>{"br", 1}));
  EXPECT_EQ(seen[2], (std::pair<std::string, double>{"*", 0}));
}

}  // namespace
}  // namespace restd
