// Who is calling (SPEC §4 "Authentication", "Roles and visibility").
//
// Knows tokens, Basic credentials, logins and the lock-out; knows nothing of
// HTTP. Password hashing runs on its own worker threads, so callers on I/O
// threads get their answer through a callback. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/lockout.h"
#include "common/worker_pool.h"
#include "config/config.h"
#include "store/store.h"

namespace restd::auth {

enum class Role { reader, writer, admin };
std::optional<Role> parseRole(std::string_view name);
std::string_view roleName(Role r);

struct Principal {
  std::string userId;
  std::string userName;
  Role role = Role::reader;
  std::string tokenHash;  // the token used; "" with Basic
};

// What the credentials of a request turned out to be.
struct Identity {
  enum class Kind {
    anonymous,     // no credentials at all
    user,          // `principal` is set
    badToken,      // unknown, expired or revoked token
    badBasic,      // wrong Basic user name or password
    lockedOut,     // too many failures: `retryAfter` seconds
    storageDown,   // could not ask the storage
  } kind = Kind::anonymous;
  Principal principal;
  int64_t retryAfter = 0;
};

struct LoginResult {
  enum class Kind { ok, invalid, lockedOut, storageDown } kind = Kind::invalid;
  std::string token;      // 40 hex characters, shown once
  int64_t expiresAt = 0;  // Unix milliseconds
  int64_t retryAfter = 0;
};

class Authenticator {
 public:
  Authenticator(const Config& config, store::Store& store);

  // A bearer token (from a header, the query or a form): one indexed read.
  Identity checkToken(std::string_view token);
  // checkToken() when it needs no storage round trip (a malformed token, or
  // one the store holds in memory: Store::cachedToken); nullopt otherwise.
  std::optional<Identity> checkTokenNow(std::string_view token);
  // Basic credentials: answered at once from a short-lived cache of verified
  // credentials (checked against the user's current password hash), else
  // verified on a worker thread; failures count toward the lock-out, which
  // lives in the storage. `done` may run on another thread.
  void checkBasic(std::string userName, std::string password, std::string clientAddress,
                  std::function<void(Identity)> done);
  // POST /authenticate. The lock-out is checked first, before any hashing; a
  // user that does not exist costs a hash too, so time tells nothing.
  void login(std::string userName, std::string apiKey, std::string password, std::string clientAddress,
             std::function<void(LoginResult)> done);
  // Revokes one token; `done(committed)`.
  void logout(const std::string& tokenHash, std::function<void(bool)> done);
  // Finishes queued hashing (their callbacks run) and stops the worker threads.
  void shutdown() { pool_.stop(); }

  // The lock-out's keys: one per user name, one per client address.
  static std::string userKey(std::string_view userName) { return "u:" + std::string(userName); }
  static std::string addressKey(std::string_view address) { return "a:" + std::string(address); }

 private:
  const std::string& dummyHash();

  const Config& config_;
  store::Store& store_;
  Lockout lockout_;
  std::once_flag dummyOnce_;
  std::string dummyHash_;

  // Whether the lock-out refuses this attempt, read from the storage (so
  // every node counts the same failures). `userHadFailures`: a success must
  // clear the user's count.
  struct Refusal {
    bool storageDown = false;
    int64_t retryAfter = 0;
  };
  std::optional<Refusal> refusal(const std::string& userName, const std::string& clientAddress, bool& userHadFailures);
  // Counts a failure for the user name (when given) and the address, then calls `then`.
  void recordFailure(const std::string& userName, const std::string& clientAddress, std::function<void()> then);

  // Credentials verified within the last minute: sha256(user:password) ->
  // the password hash they matched. A hit still reads the user, and counts
  // only while that hash is the user's current one.
  struct CachedBasic {
    std::string passwordHash;
    int64_t expiresAt;
  };
  std::mutex basicMutex_;
  std::unordered_map<std::string, CachedBasic> basicCache_;  // guarded by basicMutex_
  WorkerPool pool_{2};  // last member: its threads stop first
};

// Account management shared by the command line and --demo. Each returns
// ok, or a failure whose detail is one line saying what went wrong, fit for
// a person (invalid: the name, label or password was refused; notFound,
// uniqueViolation, unavailable: as the store said).
Status addUser(store::Store& store, const std::string& userName, Role role, const std::string& password);
Status removeUser(store::Store& store, const std::string& userName);
// Forgets the user's failed logins (and, when `address` is given, that
// client address's), ending a lock-out at once on every node.
Status unlockUser(store::Store& store, const std::string& userName, const std::string& address);
Status setPassword(store::Store& store, const std::string& userName, const std::string& password);
// Creates an API key labelled `label`; `key` empty = a fresh random key (returned in `key`).
Status createApiKey(store::Store& store, const std::string& label, std::string& key);
Status revokeApiKey(store::Store& store, const std::string& label);

}  // namespace restd::auth
