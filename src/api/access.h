// Who may see and change a record (SPEC §4 roles and visibility): pure
// functions of the collection, the caller and the record. `caller` is null
// for an anonymous read.
#pragma once

#include "auth/authenticator.h"
#include "config/config.h"
#include "store/store.h"

namespace restd::api {

// Owner collections show a user only their own records (admins see all).
inline bool canSee(const CollectionSpec& c, const auth::Principal* caller, const store::Record& r) {
  if (c.visibility != Visibility::owner) return true;
  if (!caller) return false;
  return caller->role == auth::Role::admin || caller->userId == r.owner;
}

// Admins change anything; writers their own records; readers nothing.
inline bool canChange(const auth::Principal* caller, const store::Record& r) {
  if (!caller) return false;
  return caller->role == auth::Role::admin || (caller->role == auth::Role::writer && caller->userId == r.owner);
}

}  // namespace restd::api
