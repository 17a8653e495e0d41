// The sign-in endpoints as a handler unit (SPEC §4 "Authentication"):
// POST /authenticate, GET /me and POST /logout. Given the authenticator and
// the reply writer only. Who is calling is decided before these run, by the
// Service's pipeline (identity.cpp). Thread-safe.
#pragma once

#include <cstdint>

#include "api/service.h"
#include "auth/authenticator.h"
#include "render/reply.h"

namespace restd::api {

class ReplyWriter;

class AuthEndpoints {
 public:
  // Both must outlive this.
  AuthEndpoints(auth::Authenticator& authenticator, const ReplyWriter& replies)
      : auth_(authenticator), replies_(replies) {}

  // userName, apiKey and password as a form or JSON: a token, or 401/429.
  void authenticate(const Service::CallPtr& call) const;
  // Who the caller is (anonymous is an answer too).
  static render::Reply me(const Service::Call& call);
  // Revokes the caller's token (Basic credentials have none to revoke).
  void logout(const Service::CallPtr& call) const;

  // The lock-out's 429 (SPEC §4): refused before any password is checked.
  static render::Reply lockedOut(int64_t retryAfterSeconds);

 private:
  auth::Authenticator& auth_;
  const ReplyWriter& replies_;
};

}  // namespace restd::api
