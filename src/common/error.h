// The error model of SPEC §8, in one place.
//
// Every error restd ever replies with is an ErrorObject whose `reason` is one
// of the Reason values below. The HTTP status, the `type` and the default
// message and description of a reason are decided here and nowhere else.
// Thread safety: everything here is immutable after static initialisation.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace restd {

enum class Reason {
  invalid_json,
  invalid_parameter,
  unknown_parameter,
  unknown_envelope,
  token_missing,
  token_expired,
  invalid_credentials,
  forbidden,
  field_required,
  field_type,
  field_rule,
  unknown_field,
  read_only_field,
  unique_violation,
  batch_invalid,
  empty_batch,
  idempotency_key_reused,
  not_found,
  method_not_allowed,
  not_acceptable,
  request_timeout,
  precondition_failed,
  payload_too_large,
  uri_too_long,
  unsupported_media_type,
  headers_too_large,
  rate_limited,
  overloaded,
  maintenance,
  storage_unavailable,
  not_implemented,
  length_required,
  expectation_failed,
  http_version_not_supported,
  bad_request,
  internal,
};

// Static facts about a reason: what the error reference at /docs/errors says.
struct ReasonInfo {
  Reason reason;
  std::string_view name;         // the wire identifier, e.g. "token_missing"
  int status;                    // the HTTP status this reason is always sent with
  std::string_view message;      // default one-sentence message for a person
  std::string_view description;  // how to avoid it (developer hint)
  std::string_view cause;        // what triggers it (error reference only)
};

const ReasonInfo& reasonInfo(Reason r);
std::span<const ReasonInfo> allReasons();
std::optional<Reason> reasonFromName(std::string_view name);

// The HTTP status of a reason. The only function that decides status codes
// for errors.
inline int httpStatus(Reason r) { return reasonInfo(r).status; }

// SPEC §8 `type`: derived from the status, and for 422 from whether the error
// is tied to one field.
std::string_view errorType(int status, bool hasField);

// Standard reason phrase of an HTTP status ("Not Found").
std::string_view statusPhrase(int status);

// The most entries an error's `details` lists; the rest are counted in its
// description (a body with 90,000 unknown keys must not get a 15 MB reply).
constexpr size_t kMaxErrorDetails = 100;

struct ErrorObject {
  Reason reason = Reason::internal;
  std::string message;                 // defaults to the reason's message
  std::optional<std::string> description;
  std::optional<std::string> field;    // dotted path for nested fields
  std::vector<ErrorObject> details;

  ErrorObject() = default;
  explicit ErrorObject(Reason r);
  ErrorObject(Reason r, std::string msg);

  int status() const { return httpStatus(reason); }
  std::string_view type() const { return errorType(status(), field.has_value()); }
  std::string_view reasonName() const { return reasonInfo(reason).name; }

  ErrorObject& withField(std::string f) { field = std::move(f); return *this; }
  ErrorObject& withDescription(std::string d) { description = std::move(d); return *this; }
};

// Link to a reason's entry in the error reference (SPEC §10: docs_url + "#REASON",
// else "/docs/errors#REASON" on this server).
std::string errorInfoUrl(std::string_view docsUrl, Reason r);

}  // namespace restd
