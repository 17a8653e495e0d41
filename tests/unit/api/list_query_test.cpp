// List requests below the API (api/list_query.h): query parameters into a
// store::ListQuery, their 400s, cursors and the Link header. Pure functions.
#include "api/list_query.h"

#include <gtest/gtest.h>

#include "things_config.h"

namespace restd::api {
namespace {

class ListQueryTest : public testing::ThingsTest {};

TEST_F(ListQueryTest, ListParametersBecomeAStoreQuery) {
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

TEST_F(ListQueryTest, ListParameterErrors) {
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

TEST_F(ListQueryTest, LinkHeaders) {
  ListRequest lr;
  lr.page = 2;
  QueryParams q{{"page", "2"}, {"access_token", "secret"}, {"sort", "name"}};
  std::string link = linkHeader("/api/v2/things", q, lr, 5, true, std::nullopt);
  EXPECT_EQ(link,
            "</api/v2/things?page=1&sort=name>; rel=\"first\", </api/v2/things?page=1&sort=name>; rel=\"prev\", "
            "</api/v2/things?page=3&sort=name>; rel=\"next\", </api/v2/things?page=5&sort=name>; rel=\"last\"");
  EXPECT_EQ(link.find("secret"), std::string::npos);
}

TEST_F(ListQueryTest, ACursorContinuesAfterItsRecordOnlyUnderTheSameSort) {
  ListRequest first;
  ASSERT_FALSE(parseListRequest(rules, {{"cursor", ""}, {"sort", "-price"}, {"per_page", "2"}}, first));
  EXPECT_TRUE(first.cursorMode);
  EXPECT_FALSE(first.query.after.has_value());
  EXPECT_EQ(first.query.offset, 0);
  store::Record last;
  last.id = "thg_2";
  last.values.Parse(R"({"name":"b","price":7.5})");
  std::string cursor = encodeCursor(rules, first, last);
  EXPECT_EQ(cursor.find('='), std::string::npos) << cursor;  // goes into a URL as it is

  ListRequest next;
  auto e = parseListRequest(rules, {{"cursor", cursor}, {"sort", "-price"}, {"per_page", "2"}}, next);
  ASSERT_FALSE(e) << e->message;
  ASSERT_TRUE(next.query.after.has_value());
  ASSERT_EQ(next.query.after->size(), 2u);  // the sort key's value, then the id
  EXPECT_EQ(std::get<double>((*next.query.after)[0]), 7.5);
  EXPECT_EQ(std::get<std::string>((*next.query.after)[1]), "thg_2");
  ListRequest otherSort;
  auto refused = parseListRequest(rules, {{"cursor", cursor}, {"sort", "name"}}, otherSort);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->reason, Reason::invalid_parameter);
  EXPECT_NE(refused->message.find("sort changed"), std::string::npos) << refused->message;
}

}  // namespace
}  // namespace restd::api
