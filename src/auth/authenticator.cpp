#include "auth/authenticator.h"

#include <sodium.h>

#include <array>
#include <cstring>
#include <unordered_map>

#include "auth/credentials.h"
#include "common/record_ids.h"
#include "common/time.h"

namespace restd::auth {

std::optional<Role> parseRole(std::string_view name) {
  if (name == "reader") return Role::reader;
  if (name == "writer") return Role::writer;
  if (name == "admin") return Role::admin;
  return std::nullopt;
}

std::string_view roleName(Role r) {
  switch (r) {
    case Role::reader: return "reader";
    case Role::writer: return "writer";
    case Role::admin: return "admin";
  }
  return "reader";
}

namespace {

// SHA-256 of a bearer token, remembered per thread: a client sends the same
// token with every request, and the hash is a pure function of it. The map is
// keyed by a 128-bit SipHash of the token under a random per-thread key, so no
// raw token is kept and an outsider cannot aim at an entry.
const std::string& tokenHashOf(std::string_view token) {
  struct Key {
    std::array<unsigned char, crypto_shorthash_siphashx24_BYTES> bytes;
    bool operator==(const Key& o) const { return bytes == o.bytes; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      size_t h;
      std::memcpy(&h, k.bytes.data(), sizeof h);
      return h;
    }
  };
  thread_local std::unordered_map<Key, std::string, KeyHash> cache;
  thread_local std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> secret = [] {
    std::array<unsigned char, crypto_shorthash_siphashx24_KEYBYTES> k;
    randombytes_buf(k.data(), k.size());
    return k;
  }();
  Key key;
  crypto_shorthash_siphashx24(key.bytes.data(), reinterpret_cast<const unsigned char*>(token.data()), token.size(),
                              secret.data());
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= 4096) cache.clear();  // bounded; refilled by the tokens in use
  return cache.emplace(key, sha256Hex(token)).first->second;
}

}  // namespace

Authenticator::Authenticator(const Config& config, store::Store& store)
    : config_(config), store_(store), lockout_(store, config.auth.lockoutAttempts, config.auth.lockoutWindow) {}

const std::string& Authenticator::dummyHash() {
  std::call_once(dummyOnce_, [this] { dummyHash_ = hashPassword(randomHex(16)).value_or(""); });
  return dummyHash_;
}

namespace {

Identity identityOf(Identity::Kind kind) {
  Identity id;
  id.kind = kind;
  return id;
}

Identity tokenUser(store::TokenOwner& owner, const std::string& tokenHash) {
  Identity id;
  id.kind = Identity::Kind::user;
  id.principal = Principal{std::move(owner.userId), std::move(owner.userName),
                           parseRole(owner.role).value_or(Role::reader), tokenHash};
  return id;
}

}  // namespace

Identity Authenticator::checkToken(std::string_view token) {
  if (!looksLikeToken(token)) return identityOf(Identity::Kind::badToken);
  store::TokenOwner owner;
  const std::string& tokenHash = tokenHashOf(token);
  Status e = store_.findToken(tokenHash, nowMillis(), owner);
  if (e.code == StatusCode::notFound) return identityOf(Identity::Kind::badToken);
  if (e) return identityOf(Identity::Kind::storageDown);
  return tokenUser(owner, tokenHash);
}

std::optional<Identity> Authenticator::checkTokenNow(std::string_view token) {
  if (!looksLikeToken(token)) return identityOf(Identity::Kind::badToken);
  store::TokenOwner owner;
  const std::string& tokenHash = tokenHashOf(token);
  if (!store_.cachedToken(tokenHash, nowMillis(), owner)) return std::nullopt;
  return tokenUser(owner, tokenHash);
}

std::optional<Authenticator::Refusal> Authenticator::refusal(const std::string& userName,
                                                            const std::string& clientAddress, bool& userHadFailures) {
  int64_t now = nowMillis();
  Lockout::Check byUser = lockout_.check(userKey(userName), now);
  Lockout::Check byAddress = lockout_.check(addressKey(clientAddress), now);
  userHadFailures = byUser.anyFailures;
  if (byUser.storageDown || byAddress.storageDown) return Refusal{true, 0};
  if (byUser.lockedFor) return Refusal{false, *byUser.lockedFor};
  if (byAddress.lockedFor) return Refusal{false, *byAddress.lockedFor};
  return std::nullopt;
}

void Authenticator::recordFailure(const std::string& userName, const std::string& clientAddress,
                                  std::function<void()> then) {
  // Answered after the failure is committed: the next attempt, on any node,
  // already counts it.
  store_.submitWrite(
      [this, user = userName.empty() ? std::string() : userKey(userName), address = addressKey(clientAddress)](
          store::WriteTxn& txn) {
        int64_t now = nowMillis();
        if (!user.empty() && lockout_.recordFailure(txn, user, now)) return false;
        return !lockout_.recordFailure(txn, address, now);
      },
      [then = std::move(then)](bool) { then(); });
}

void Authenticator::checkBasic(std::string userName, std::string password, std::string clientAddress,
                               std::function<void(Identity)> done) {
  std::string cacheKey = sha256Hex(userName + ":" + password);
  std::optional<CachedBasic> cached;
  {
    std::lock_guard lock(basicMutex_);
    auto it = basicCache_.find(cacheKey);
    if (it != basicCache_.end() && it->second.expiresAt > nowMillis()) cached = it->second;
  }
  if (cached) {
    // Verified a moment ago: no hash and no lock-out reads, but the user is
    // read afresh, so a password changed or a user removed on any node
    // counts at once.
    store::User user;
    Status e = store_.findUser(userName, user);
    Identity id;
    if (e && e.code != StatusCode::notFound) {
      id.kind = Identity::Kind::storageDown;
      return done(std::move(id));
    }
    if (!e && user.passwordHash == cached->passwordHash) {
      id.kind = Identity::Kind::user;
      id.principal = Principal{user.id, user.userName, parseRole(user.role).value_or(Role::reader), ""};
      return done(std::move(id));
    }
  }
  bool hadFailures = false;
  if (auto refused = refusal(userName, clientAddress, hadFailures)) {
    Identity id;
    id.kind = refused->storageDown ? Identity::Kind::storageDown : Identity::Kind::lockedOut;
    id.retryAfter = refused->retryAfter;
    return done(std::move(id));
  }
  pool_.post([this, userName = std::move(userName), password = std::move(password),
              clientAddress = std::move(clientAddress), cacheKey, hadFailures, done = std::move(done)] {
    Identity id;
    store::User user;
    Status e = store_.findUser(userName, user);
    if (e && e.code != StatusCode::notFound) {
      id.kind = Identity::Kind::storageDown;
      return done(std::move(id));
    }
    bool ok = verifyPassword(e ? dummyHash() : user.passwordHash, password) && !e;
    if (!ok) {
      id.kind = Identity::Kind::badBasic;
      return recordFailure(userName, clientAddress, [done, id] { done(id); });
    }
    id.kind = Identity::Kind::user;
    id.principal = Principal{user.id, user.userName, parseRole(user.role).value_or(Role::reader), ""};
    {
      // Verified credentials skip the hash for a minute (see above).
      std::lock_guard lock(basicMutex_);
      if (basicCache_.size() > 10'000) basicCache_.clear();
      basicCache_[cacheKey] = CachedBasic{user.passwordHash, nowMillis() + 60'000};
    }
    if (hadFailures) {
      store_.submitWrite([this, key = userKey(userName)](store::WriteTxn& txn) { return !lockout_.reset(txn, key); },
                         [done, id](bool) { done(id); });
      return;
    }
    done(std::move(id));
  });
}

void Authenticator::login(std::string userName, std::string apiKey, std::string password, std::string clientAddress,
                          std::function<void(LoginResult)> done) {
  bool hadFailures = false;
  if (auto refused = refusal(userName, clientAddress, hadFailures)) {
    LoginResult r;
    r.kind = refused->storageDown ? LoginResult::Kind::storageDown : LoginResult::Kind::lockedOut;
    r.retryAfter = refused->retryAfter;
    return done(std::move(r));
  }
  pool_.post([this, userName = std::move(userName), apiKey = std::move(apiKey), password = std::move(password),
              clientAddress = std::move(clientAddress), hadFailures, done = std::move(done)]() mutable {
    LoginResult result;
    store::User user;
    store::ApiKey key;
    Status userError = store_.findUser(userName, user);
    Status keyError = store_.findApiKey(sha256Hex(apiKey), key);
    bool storageDown = (userError && userError.code != StatusCode::notFound) ||
                       (keyError && keyError.code != StatusCode::notFound);
    // Always one argon2id verification, whether or not the user exists.
    bool passwordOk = verifyPassword(userError ? dummyHash() : user.passwordHash, password);
    if (storageDown) {
      result.kind = LoginResult::Kind::storageDown;
      return done(std::move(result));
    }
    if (userError || keyError || !passwordOk) {
      result.kind = LoginResult::Kind::invalid;
      auto shared = std::make_shared<LoginResult>(std::move(result));
      return recordFailure(userName, clientAddress, [shared, done = std::move(done)]() mutable { done(std::move(*shared)); });
    }
    result.kind = LoginResult::Kind::ok;
    result.token = randomHex(20);
    result.expiresAt = nowMillis() + std::chrono::duration_cast<std::chrono::milliseconds>(config_.auth.tokenTtl).count();
    std::string tokenHash = sha256Hex(result.token);
    auto shared = std::make_shared<LoginResult>(std::move(result));
    store_.submitWrite(
        [this, tokenHash, userId = user.id, label = key.label, expires = shared->expiresAt,
         reset = hadFailures ? userKey(userName) : std::string()](store::WriteTxn& txn) {
          if (!reset.empty() && lockout_.reset(txn, reset)) return false;
          return !txn.addToken(tokenHash, userId, label, expires);
        },
        [shared, done = std::move(done)](bool committed) mutable {
          if (!committed) shared->kind = LoginResult::Kind::storageDown;
          done(std::move(*shared));
        });
  });
}

void Authenticator::logout(const std::string& tokenHash, std::function<void(bool)> done) {
  store_.submitWrite([tokenHash](store::WriteTxn& txn) { return !txn.revokeToken(tokenHash); }, std::move(done));
}

// ---------------------------------------------------------------- accounts

namespace {
std::string describe(const Status& e, const std::string& what) {
  switch (e.code) {
    case StatusCode::notFound: return what + " does not exist";
    case StatusCode::uniqueViolation: return what + " already exists";
    case StatusCode::unavailable: return "the storage is unavailable: " + e.detail;
    default: return "storage error: " + e.detail;
  }
}

// The store's failure, with `detail` said for a person.
Status described(const Status& e, const std::string& what) { return {e.code, e.field, describe(e, what)}; }

Status invalid(std::string why) { return Status::failure(StatusCode::invalid, std::move(why)); }

Status runAccountWrite(store::Store& store, const std::string& what,
                       const std::function<Status(store::WriteTxn&)>& op) {
  Status result;
  bool ok = store.runWrite([&](store::WriteTxn& txn) {
    result = op(txn);
    return !result;
  });
  if (result) return described(result, what);
  if (!ok) return Status::failure(StatusCode::unavailable, "the storage is unavailable");
  return Status::ok();
}
}  // namespace

Status addUser(store::Store& store, const std::string& userName, Role role, const std::string& password) {
  if (userName.empty() || userName.size() > 128) return invalid("a user name needs 1 to 128 characters");
  for (unsigned char c : userName)
    if (c < 0x21 || c == ':' || c == 0x7F) return invalid("a user name cannot contain spaces, control characters or ':'");
  if (password.empty()) return invalid("the password is empty");
  auto hash = hashPassword(password);
  if (!hash) return Status::failure(StatusCode::internal, "cannot hash the password (out of memory)");
  store::User u{newRecordId("user"), userName, std::string(roleName(role)), *hash, nowMillis()};
  return runAccountWrite(store, "the user \"" + userName + "\"", [&](store::WriteTxn& t) { return t.addUser(u); });
}

Status removeUser(store::Store& store, const std::string& userName) {
  return runAccountWrite(store, "the user \"" + userName + "\"",
                         [&](store::WriteTxn& t) { return t.removeUser(userName); });
}

Status unlockUser(store::Store& store, const std::string& userName, const std::string& address) {
  store::User u;
  if (auto e = store.findUser(userName, u)) return described(e, "the user \"" + userName + "\"");
  return runAccountWrite(store, "the user \"" + userName + "\"", [&](store::WriteTxn& t) {
    if (auto e = t.clearLoginFailures(Authenticator::userKey(userName))) return e;
    return address.empty() ? Status{} : t.clearLoginFailures(Authenticator::addressKey(address));
  });
}

Status setPassword(store::Store& store, const std::string& userName, const std::string& password) {
  if (password.empty()) return invalid("the password is empty");
  store::User u;
  if (auto e = store.findUser(userName, u)) return described(e, "the user \"" + userName + "\"");
  auto hash = hashPassword(password);
  if (!hash) return Status::failure(StatusCode::internal, "cannot hash the password (out of memory)");
  return runAccountWrite(store, "the user \"" + userName + "\"",
                         [&](store::WriteTxn& t) { return t.setPassword(userName, *hash); });
}

Status createApiKey(store::Store& store, const std::string& label, std::string& key) {
  if (label.empty() || label.size() > 64) return invalid("a label needs 1 to 64 characters");
  for (unsigned char c : label)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
      return invalid("a label may contain only letters, digits, '.', '_' and '-'");
  if (key.empty()) key = randomHex(24);
  store::ApiKey k{label, key.substr(0, 6), nowMillis()};
  std::string hash = sha256Hex(key);
  return runAccountWrite(store, "an API key labelled \"" + label + "\"",
                         [&](store::WriteTxn& t) { return t.addApiKey(k, hash); });
}

Status revokeApiKey(store::Store& store, const std::string& label) {
  return runAccountWrite(store, "the API key \"" + label + "\"", [&](store::WriteTxn& t) { return t.revokeApiKey(label); });
}

}  // namespace restd::auth
