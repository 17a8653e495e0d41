// Record validation (SPEC §2 rules, §3 system fields, §10 "Records"): turns a
// client's body into the values a record stores, or one ErrorObject that
// names every problem. Pure functions over an immutable CollectionRules;
// thread-safe.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/pattern.h"
#include "config/config.h"

namespace restd::api {

// A field's rules, compiled once at start.
struct FieldRules {
  const FieldSpec* spec = nullptr;
  std::optional<Pattern> pattern;
  rapidjson::Document defaultValue;          // null when none
  std::vector<rapidjson::Document> enumValues;
};

struct CollectionRules {
  const CollectionSpec* spec = nullptr;
  std::vector<FieldRules> fields;            // config order
  // createdAt, updatedAt and the datetime fields: the record keys that
  // profiles re-lay out (render::Reply::dateFields).
  std::vector<std::string> dateFields;

  static CollectionRules compile(const CollectionSpec& spec);
  const FieldRules* field(std::string_view name) const;
};

bool isSystemField(std::string_view name);

enum class WriteMode { create, replace, patch, restore };

// Builds the stored values of a record from `body` (a JSON object).
//  create:  missing fields take their default; required ones must be there.
//  replace: like create; the old values are discarded.
//  patch:   RFC 7396 merge patch of `body` onto `current`.
//  restore: like create, for `restd import`: read-only fields may be given
//           (a restore keeps what they held), and system fields are the
//           caller's to check, so they are passed over here.
// On success fills `out` with every declared field (null when unset) then
// the extras, and returns nullopt. On failure returns the error: one object
// of type validation whose `details` hold one error per invalid field, in
// config order, then unknown fields in body order.
[[nodiscard]] std::optional<ErrorObject> buildValues(const CollectionRules& rules, const rapidjson::Value& body, WriteMode mode,
                                       const rapidjson::Value* current, rapidjson::Document& out);

// RFC 7396 merge patch of `patch` into `target`.
void mergePatch(rapidjson::Value& target, const rapidjson::Value& patch, rapidjson::Document::AllocatorType& a);

// Converts a form-encoded body (all strings) into a JSON object, giving each
// declared field's value its type; values that cannot be converted stay
// strings so that validation reports them (field_type).
void formToJson(const CollectionRules& rules, const std::vector<std::pair<std::string, std::string>>& form,
                rapidjson::Document& out);

}  // namespace restd::api
