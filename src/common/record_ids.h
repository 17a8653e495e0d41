// Record ids (SPEC §3): PREFIX_ + 26 characters of lowercase Crockford
// base32 encoding a UUIDv7 — the TypeID layout. The first 10 characters encode
// the creation time in milliseconds, so ids sort by creation time; ids made in
// the same millisecond by this process still sort in creation order (the
// random part is incremented, RFC 9562 §6.2 method 2). Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace restd {

std::string newRecordId(std::string_view prefix);
std::string newRecordIdAt(std::string_view prefix, uint64_t unixMillis);  // for tests

// True when `id` has the shape PREFIX_ + 26 base32 characters (first one 0-7).
bool isRecordId(std::string_view id, std::string_view prefix);
// The 26-character suffix of an id ("" when it has no '_').
std::string_view recordIdSuffix(std::string_view id);

// Slugs (SPEC §10): ASCII letters and digits lowercased, every other run of
// characters one '-', no leading or trailing '-', at most 80 characters.
// Returns "" when nothing is left (the caller then uses the id's suffix).
std::string slugify(std::string_view text);
// The n-th candidate for a slug (n = 1: the base itself; n >= 2: "-n"
// appended, the base cut first so the whole stays within 80 characters).
// "events" is never returned (it is the change feed's path).
std::string slugCandidate(std::string_view base, int n);

}  // namespace restd
