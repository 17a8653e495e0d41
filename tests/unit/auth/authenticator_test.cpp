// auth/ below the API: the Authenticator and the account functions on a
// real SQLite store (support/temp_sqlite_store.h) (how both engines keep accounts is the store tests'
// part, store_engines_test.cpp). Logins hash with argon2id on the
// Authenticator's own threads; the tests wait for each answer.
#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>

#include "auth/credentials.h"
#include "common/time.h"
#include "support/temp_sqlite_store.h"

namespace restd::auth {
namespace {

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest() {
    EXPECT_TRUE(initCrypto());
    ConfigErrors errors;
    auto parsed = parseConfig("[collections.things]\n", "test.toml", errors);
    if (!parsed) throw std::runtime_error("the test's config does not load");
    config_ = std::move(*parsed);
    config_.auth.lockoutAttempts = 3;
    storage_ = std::make_unique<testing::TempSqliteStore>(config_, "auth");
    auth_ = std::make_unique<Authenticator>(config_, store());
    EXPECT_FALSE(createApiKey(store(), "app", key_));
    EXPECT_FALSE(addUser(store(), "ann", Role::writer, "ann-password"));
  }
  ~AuthenticatorTest() override {
    auth_->shutdown();
    auth_.reset();
    storage_.reset();
  }
  store::Store& store() { return storage_->store(); }

  LoginResult login(const std::string& user, const std::string& password, const std::string& address = "10.0.0.1") {
    std::promise<LoginResult> done;
    auth_->login(user, key_, password, address, [&](LoginResult r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }
  Identity basic(const std::string& user, const std::string& password) {
    std::promise<Identity> done;
    auth_->checkBasic(user, password, "10.0.0.2", [&](Identity id) { done.set_value(std::move(id)); });
    return done.get_future().get();
  }

  Config config_;
  std::unique_ptr<testing::TempSqliteStore> storage_;
  std::unique_ptr<Authenticator> auth_;
  std::string key_;
};

TEST_F(AuthenticatorTest, ATokenNamesItsUserUntilItIsLoggedOut) {
  int64_t before = nowMillis();
  LoginResult r = login("ann", "ann-password");
  ASSERT_EQ(r.kind, LoginResult::Kind::ok);
  EXPECT_TRUE(looksLikeToken(r.token)) << r.token;
  EXPECT_GE(r.expiresAt, before + 24 * 3600 * 1000 - 1000);
  EXPECT_LE(r.expiresAt, nowMillis() + 24 * 3600 * 1000);

  Identity id = auth_->checkToken(r.token);
  ASSERT_EQ(id.kind, Identity::Kind::user);
  EXPECT_EQ(id.principal.userName, "ann");
  EXPECT_EQ(id.principal.role, Role::writer);
  EXPECT_EQ(id.principal.tokenHash, sha256Hex(r.token));
  // A token that cannot be one is refused without asking the storage.
  auto malformed = auth_->checkTokenNow("not-a-token");
  ASSERT_TRUE(malformed.has_value());
  EXPECT_EQ(malformed->kind, Identity::Kind::badToken);
  EXPECT_EQ(auth_->checkToken(std::string(40, 'a')).kind, Identity::Kind::badToken);

  std::promise<bool> out;
  auth_->logout(id.principal.tokenHash, [&](bool committed) { out.set_value(committed); });
  ASSERT_TRUE(out.get_future().get());
  EXPECT_EQ(auth_->checkToken(r.token).kind, Identity::Kind::badToken);
}

TEST_F(AuthenticatorTest, WrongCredentialsFailAlikeAndLockTheUserOutAtTheLimit) {
  EXPECT_EQ(login("ann", "wrong").kind, LoginResult::Kind::invalid);
  EXPECT_EQ(login("nobody", "ann-password").kind, LoginResult::Kind::invalid);
  std::promise<LoginResult> badKey;
  auth_->login("ann", "not-the-key", "ann-password", "10.0.0.3", [&](LoginResult r) { badKey.set_value(r); });
  EXPECT_EQ(badKey.get_future().get().kind, LoginResult::Kind::invalid);
  EXPECT_EQ(login("ann", "wrong", "10.0.0.4").kind, LoginResult::Kind::invalid);  // the third for "ann"
  // Now even the right password is refused, from any address, until unlocked.
  LoginResult locked = login("ann", "ann-password", "10.0.0.5");
  EXPECT_EQ(locked.kind, LoginResult::Kind::lockedOut);
  EXPECT_GT(locked.retryAfter, 0);
  EXPECT_LE(locked.retryAfter, 15 * 60);
  ASSERT_FALSE(unlockUser(store(), "ann", ""));
  EXPECT_EQ(login("ann", "ann-password", "10.0.0.5").kind, LoginResult::Kind::ok);
}

TEST_F(AuthenticatorTest, BasicCredentialsAreCheckedAgainstTheCurrentPassword) {
  Identity ok = basic("ann", "ann-password");
  ASSERT_EQ(ok.kind, Identity::Kind::user);
  EXPECT_EQ(ok.principal.userName, "ann");
  EXPECT_TRUE(ok.principal.tokenHash.empty());
  EXPECT_EQ(basic("ann", "wrong").kind, Identity::Kind::badBasic);
  EXPECT_EQ(basic("ann", "ann-password").kind, Identity::Kind::user);  // from the cache of verified ones
  ASSERT_FALSE(setPassword(store(), "ann", "new-password"));
  EXPECT_EQ(basic("ann", "ann-password").kind, Identity::Kind::badBasic);  // the cache follows the change
  EXPECT_EQ(basic("ann", "new-password").kind, Identity::Kind::user);
  ASSERT_FALSE(removeUser(store(), "ann"));
  EXPECT_EQ(basic("ann", "new-password").kind, Identity::Kind::badBasic);
}

TEST_F(AuthenticatorTest, AccountChangesSayWhatWentWrong) {
  EXPECT_EQ(addUser(store(), "ann", Role::reader, "x").code, StatusCode::uniqueViolation);
  EXPECT_EQ(addUser(store(), "has space", Role::reader, "x").code, StatusCode::invalid);
  EXPECT_EQ(addUser(store(), "bob", Role::reader, "").code, StatusCode::invalid);
  EXPECT_EQ(removeUser(store(), "nobody").code, StatusCode::notFound);
  EXPECT_EQ(setPassword(store(), "nobody", "x").code, StatusCode::notFound);
  std::string again = "";
  EXPECT_EQ(createApiKey(store(), "app", again).code, StatusCode::uniqueViolation);
  std::string odd;
  EXPECT_EQ(createApiKey(store(), "a/b", odd).code, StatusCode::invalid);
  EXPECT_EQ(revokeApiKey(store(), "nothing").code, StatusCode::notFound);
  ASSERT_FALSE(revokeApiKey(store(), "app"));
  // A revoked key signs nobody in.
  EXPECT_EQ(login("ann", "ann-password").kind, LoginResult::Kind::invalid);
}

}  // namespace
}  // namespace restd::auth
