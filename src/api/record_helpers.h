// Small helpers shared by the record handlers. Private to api/.
#pragma once

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/handler.h"
#include "api/negotiation.h"
#include "common/error.h"
#include "store/store.h"

namespace restd::api {

// The record as a reply's data and as the change feed and `restd export`
// write it: system and declared fields (only `fields` when given).
void recordToJson(const CollectionSpec& c, const store::Record& r, const std::vector<std::string>* fields,
                  rapidjson::Value& out, rapidjson::Document::AllocatorType& a);

// The change feed's log entry for a change to `r` (kind: created, updated, deleted).
store::StoredEvent eventOf(const CollectionSpec& c, std::string_view kind, const store::Record& r);

// The slug a new record gets when it is free: its `slug_from` value
// slugified, or its id's suffix when that leaves nothing.
std::string slugBase(const CollectionSpec& spec, const store::Record& r);

// Gives a new record its slug (SPEC §10): slugBase(), or with a free "-n"
// suffix when that is taken (found in O(log n) probes, so not always the
// lowest). `alsoTaken`, when given, names slugs not yet in the storage that
// count as taken (records of a batch still to be inserted).
using SlugTest = std::function<bool(const std::string& slug)>;
Status chooseSlug(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& owner, store::Record& r,
                        const SlugTest& alsoTaken = nullptr);

// The message of a 409 unique_violation naming the field (also `restd import`'s).
inline std::string uniqueViolationMessage(std::string_view field) {
  return "Another record already has this value in the unique field \"" + std::string(field) + "\".";
}

// The version part of a record's entity tags, "id.version", appended to `out`.
inline void appendVersionTag(std::string& out, const store::Record& r) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, r.version).ptr;
  out.append(r.id).push_back('.');
  out.append(digits, end);
}

inline std::string versionTag(const store::Record& r) {
  std::string tag;
  tag.reserve(r.id.size() + 21);
  appendVersionTag(tag, r);
  return tag;
}

// The strong ETag of one representation (SPEC §7 "Caching"): the version,
// then `representation` (":json:standard"); the http layer appends ":gzip"
// to the tag of a compressed body.
inline std::string etagOf(const store::Record& r, std::string_view representation) {
  std::string tag;
  tag.reserve(r.id.size() + representation.size() + 24);
  tag.push_back('"');
  appendVersionTag(tag, r);
  tag.append(representation).push_back('"');
  return tag;
}

// If-Match: "*", or a strong tag of any representation of this version.
inline bool ifMatchAccepts(std::string_view header, std::string_view version) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    if (item == "*") return true;
    if (item.size() < 2 || item.front() != '"' || item.back() != '"') continue;  // weak tags never match
    item = item.substr(1, item.size() - 2);
    if (item.starts_with(version) && (item.size() == version.size() || item[version.size()] == ':')) return true;
  }
  return false;
}

inline uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Only these query parameters make sense on a single-record or write request
// (and `pretty`, which every reply takes).
[[nodiscard]] inline std::optional<ErrorObject> onlyParams(const QueryParams& q, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : q)
    if (k != "pretty" && std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      return ErrorObject(Reason::unknown_parameter, "The query parameter \"" + k + "\" is not understood here.");
  return std::nullopt;
}

// ?atomic=true|false (default true); anything else is a 400.
[[nodiscard]] inline std::optional<ErrorObject> readAtomic(const QueryParams& query, bool& atomic) {
  const std::string* p = findParam(query, "atomic");
  atomic = !p || *p == "true";
  if (p && *p != "true" && *p != "false") return ErrorObject(Reason::invalid_parameter, "atomic must be true or false.");
  return std::nullopt;
}

}  // namespace restd::api
