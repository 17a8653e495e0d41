#include "api/access.h"

#include <gtest/gtest.h>

namespace restd::api {
namespace {

TEST(Access, OwnerCollectionsShowUsersOnlyTheirOwnAndAdminsAll) {
  CollectionSpec open, owned;
  owned.visibility = Visibility::owner;
  store::Record r;
  r.owner = "user_ann";
  auth::Principal ann{"user_ann", "ann", auth::Role::reader, ""};
  auth::Principal bob{"user_bob", "bob", auth::Role::writer, ""};
  auth::Principal root{"user_root", "root", auth::Role::admin, ""};
  EXPECT_TRUE(canSee(open, nullptr, r));
  EXPECT_TRUE(canSee(open, &bob, r));
  EXPECT_FALSE(canSee(owned, nullptr, r));
  EXPECT_FALSE(canSee(owned, &bob, r));
  EXPECT_TRUE(canSee(owned, &ann, r));
  EXPECT_TRUE(canSee(owned, &root, r));
}

TEST(Access, WritersChangeTheirOwnReadersNothingAdminsAnything) {
  store::Record mine, theirs;
  mine.owner = "user_bob";
  theirs.owner = "user_ann";
  auth::Principal reader{"user_ann", "ann", auth::Role::reader, ""};
  auth::Principal writer{"user_bob", "bob", auth::Role::writer, ""};
  auth::Principal admin{"user_root", "root", auth::Role::admin, ""};
  EXPECT_FALSE(canChange(nullptr, mine));
  EXPECT_FALSE(canChange(&reader, theirs));  // a reader, even of its own
  EXPECT_TRUE(canChange(&writer, mine));
  EXPECT_FALSE(canChange(&writer, theirs));
  EXPECT_TRUE(canChange(&admin, theirs));
}

}  // namespace
}  // namespace restd::api
