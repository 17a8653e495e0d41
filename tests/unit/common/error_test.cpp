#include "common/error.h"

#include <gtest/gtest.h>

#include <set>

namespace restd {

TEST(ErrorModel, EveryReasonHasAUniqueNameAndAStatus) {
  std::set<std::string_view> names;
  for (const auto& r : allReasons()) {
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    EXPECT_GE(r.status, 400) << r.name;
    EXPECT_FALSE(r.message.empty()) << r.name;
    EXPECT_FALSE(r.description.empty()) << r.name;
    EXPECT_EQ(reasonFromName(r.name), r.reason);
  }
  EXPECT_EQ(names.size(), 36u);  // SPEC §8: the list is complete
}

TEST(ErrorModel, StatusesFollowTheSpec) {
  EXPECT_EQ(httpStatus(Reason::invalid_json), 400);
  EXPECT_EQ(httpStatus(Reason::token_missing), 401);
  EXPECT_EQ(httpStatus(Reason::forbidden), 403);
  EXPECT_EQ(httpStatus(Reason::not_found), 404);
  EXPECT_EQ(httpStatus(Reason::method_not_allowed), 405);
  EXPECT_EQ(httpStatus(Reason::unique_violation), 409);
  EXPECT_EQ(httpStatus(Reason::field_required), 422);
  EXPECT_EQ(httpStatus(Reason::headers_too_large), 431);
  EXPECT_EQ(httpStatus(Reason::storage_unavailable), 502);
  EXPECT_EQ(httpStatus(Reason::overloaded), 503);
  EXPECT_EQ(httpStatus(Reason::maintenance), 503);
  EXPECT_EQ(httpStatus(Reason::http_version_not_supported), 505);
  EXPECT_EQ(httpStatus(Reason::rate_limited), 429);
}

TEST(ErrorModel, TypesFollowTheSpec) {
  EXPECT_EQ(errorType(400, false), "syntax");
  EXPECT_EQ(errorType(401, false), "permission");
  EXPECT_EQ(errorType(403, false), "permission");
  EXPECT_EQ(errorType(404, false), "client");
  EXPECT_EQ(errorType(431, false), "client");
  EXPECT_EQ(errorType(422, true), "validation");
  EXPECT_EQ(errorType(422, false), "content");
  EXPECT_EQ(errorType(502, false), "system");
  ErrorObject e(Reason::field_type);
  EXPECT_EQ(e.type(), "content");
  e.withField("price");
  EXPECT_EQ(e.type(), "validation");
}

TEST(ErrorModel, InfoLinksPointToTheReference) {
  EXPECT_EQ(errorInfoUrl("", Reason::not_found), "/docs/errors#not_found");
  EXPECT_EQ(errorInfoUrl("https://example.com/errors", Reason::token_expired),
            "https://example.com/errors#token_expired");
}

TEST(ErrorModel, TokenMessagesAreWordForWord) {
  EXPECT_EQ(ErrorObject(Reason::token_expired).message, "Please renew your access_token");
}

}  // namespace restd
