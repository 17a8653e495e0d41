// Request ids: cheap, unique enough for correlating logs, never used for security.
#pragma once

#include <string>
#include <string_view>

namespace restd {

// Writes a fresh 20-character id ([0-9a-z]) into `out`, reusing its
// capacity. Thread-safe (per-thread generator seeded from libsodium's CSPRNG).
void newRequestId(std::string& out);

// SPEC §10: a client id is kept when it is 1..128 characters of [A-Za-z0-9._-].
bool isSaneRequestId(std::string_view id);

}  // namespace restd
