#include "common/error.h"

#include <array>

namespace restd {
namespace {

using R = Reason;

// One row per reason. Order matches enum Reason (checked in reasonInfo()).
constexpr std::array kReasons = {
    ReasonInfo{R::invalid_json, "invalid_json", 400,
               "The request body is not valid JSON.",
               "Send one JSON value encoded as UTF-8 without a byte-order mark, with unique object keys, nesting at most 64 levels and numbers that fit a double.",
               "A body declared as application/json that does not parse, repeats a key, starts with a BOM, nests deeper than 64 levels or holds a number too large for a double."},
    ReasonInfo{R::invalid_parameter, "invalid_parameter", 400,
               "A query parameter has an invalid value.",
               "Check the parameter named in the error: page and per_page are whole numbers from 1 (per_page at most 100), filter values must fit the field's type.",
               "A known query parameter whose value is out of range or of the wrong type, or parameters that cannot be combined (cursor with page)."},
    ReasonInfo{R::unknown_parameter, "unknown_parameter", 400,
               "The request names a field or operator that does not exist.",
               "Only declared and system fields can be filtered, sorted or selected; operators are eq, ne, gt, gte, lt, lte, in and like.",
               "A filter, sort or fields parameter naming an unknown field, or FIELD[op] with an unknown operator."},
    ReasonInfo{R::unknown_envelope, "unknown_envelope", 400,
               "The requested envelope profile does not exist.",
               "Use one of the profile names listed in the API reference, or omit X-Envelope and envelope= to get the server's default.",
               "An X-Envelope header or envelope= parameter naming no known profile. The reply uses the server's default profile."},
    ReasonInfo{R::token_missing, "token_missing", 401,
               "Please include the access_token parameter in your requests. You can obtain one using the /api/v2/authenticate endpoint",
               "Obtain a token from /authenticate and send it as Authorization: Bearer TOKEN, as the access_token query parameter or as a form field.",
               "A protected resource was requested without any token or credentials."},
    ReasonInfo{R::token_expired, "token_expired", 401,
               "Please renew your access_token",
               "Call /authenticate again to get a fresh token; tokens expire after the server's token_ttl and die with logout or when their API key is revoked.",
               "The token sent is unknown, expired or revoked."},
    ReasonInfo{R::invalid_credentials, "invalid_credentials", 401,
               "The user name, API key or password is wrong.",
               "Check all three values; the server does not say which one was wrong.",
               "/authenticate (or Basic authentication) with a wrong userName, apiKey or password."},
    ReasonInfo{R::forbidden, "forbidden", 403,
               "Your role does not allow this action.",
               "Readers may only read; writers may create and change their own records; admins may do everything.",
               "An authenticated user whose role does not permit the method on this resource."},
    ReasonInfo{R::field_required, "field_required", 422,
               "A required field is missing.",
               "Include every field marked required in the collection's configuration.",
               "A create or replace without a value for a required field."},
    ReasonInfo{R::field_type, "field_type", 422,
               "A field has a value of the wrong type.",
               "Send the JSON type the field is declared with; integers must fit a signed 64-bit range.",
               "A value whose JSON type does not match the field's declared type."},
    ReasonInfo{R::field_rule, "field_rule", 422,
               "A field's value breaks one of its rules.",
               "Respect the field's enum, min, max, min_length, max_length and pattern rules listed in the API reference.",
               "A value outside the field's declared rules."},
    ReasonInfo{R::unknown_field, "unknown_field", 422,
               "The record contains a field the collection does not declare.",
               "Send only declared fields, or set extra_fields = \"allow\" on the collection.",
               "An undeclared field in a collection with extra_fields = \"reject\"."},
    ReasonInfo{R::read_only_field, "read_only_field", 422,
               "A field is read-only and cannot be written.",
               "Leave out system fields (id, slug, createdAt, updatedAt, version, owner) and fields declared read_only.",
               "A write that sets a system field or a read_only field."},
    ReasonInfo{R::unique_violation, "unique_violation", 409,
               "Another record already has this value in a unique field.",
               "Choose a different value for the field named in the error.",
               "A create or update that would duplicate a value of a unique field."},
    ReasonInfo{R::batch_invalid, "batch_invalid", 422,
               "Some items of the batch are invalid.",
               "Look at the failures list: each entry gives the item's index, its data as understood and its errors.",
               "An atomic batch in which at least one item failed (nothing was saved), or a non-atomic batch in which every item failed."},
    ReasonInfo{R::empty_batch, "empty_batch", 422,
               "The batch contains no items.",
               "Send at least one item in the array.",
               "A batch POST, PATCH or DELETE with an empty array or an empty ids list."},
    ReasonInfo{R::idempotency_key_reused, "idempotency_key_reused", 422,
               "This Idempotency-Key was already used with a different request body.",
               "Use a new Idempotency-Key for every distinct request; reuse a key only to retry the identical request.",
               "An Idempotency-Key seen within 24 hours with a different body."},
    ReasonInfo{R::not_found, "not_found", 404,
               "The requested resource does not exist.",
               "Check the path and the record id or slug.",
               "An unknown path, or a record that does not exist or is not visible to you."},
    ReasonInfo{R::method_not_allowed, "method_not_allowed", 405,
               "This method is not allowed on this resource.",
               "Use one of the methods listed in the Allow header.",
               "A known path requested with a method it does not support."},
    ReasonInfo{R::not_acceptable, "not_acceptable", 406,
               "None of the formats in the Accept header can be produced.",
               "Accept application/json or application/xml (or */*).",
               "An Accept header that allows neither JSON nor XML."},
    ReasonInfo{R::request_timeout, "request_timeout", 408,
               "The request was not received in time.",
               "Send the request line and headers promptly after connecting.",
               "The request line and headers did not arrive within the header-read timeout, or the body stalled."},
    ReasonInfo{R::precondition_failed, "precondition_failed", 412,
               "The record has changed since you read it.",
               "Fetch the record again to get its current ETag, then retry with that value in If-Match.",
               "A PUT, PATCH or DELETE with an If-Match that does not match the record's current ETag."},
    ReasonInfo{R::payload_too_large, "payload_too_large", 413,
               "The request body is too large.",
               "Keep bodies under the server's max_body_bytes and batches under max_batch_items.",
               "A body larger than max_body_bytes, or a batch with more than max_batch_items items."},
    ReasonInfo{R::uri_too_long, "uri_too_long", 414,
               "The request URL is too long.",
               "Keep URLs under 8 KiB; send long id lists in the body instead of the query.",
               "A request target longer than 8 KiB."},
    ReasonInfo{R::unsupported_media_type, "unsupported_media_type", 415,
               "The request body's content type is not supported.",
               "Send bodies as application/json or application/x-www-form-urlencoded (PATCH also takes "
               "application/merge-patch+json), with a Content-Type header.",
               "A body with another Content-Type, or with none; on PATCH the reply's Accept-Patch lists what it takes."},
    ReasonInfo{R::headers_too_large, "headers_too_large", 431,
               "The request headers are too large.",
               "Keep the request line and headers together under 16 KiB.",
               "A request line plus headers larger than 16 KiB."},
    ReasonInfo{R::rate_limited, "rate_limited", 429,
               "Too many requests; slow down.",
               "Wait the number of seconds given in Retry-After before trying again.",
               "More requests than requests_per_minute allows, or too many failed logins for one user name or address."},
    ReasonInfo{R::overloaded, "overloaded", 503,
               "The server is overloaded; try again shortly.",
               "Retry after the number of seconds given in Retry-After, ideally with backoff.",
               "More requests in flight than max_in_flight; the request was refused before any work was done."},
    ReasonInfo{R::maintenance, "maintenance", 503,
               "The service is down for maintenance.",
               "Retry after the number of seconds given in Retry-After.",
               "An operator switched maintenance mode on with `restd maintenance on`."},
    ReasonInfo{R::storage_unavailable, "storage_unavailable", 502,
               "The storage backend is unavailable.",
               "Retry later; the server reconnects by itself when storage returns.",
               "The database could not be reached or refused the operation (read-only or vanished file, lost connection)."},
    ReasonInfo{R::not_implemented, "not_implemented", 501,
               "The request method is not implemented by this server.",
               "Use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.",
               "A request method this server does not know."},
    ReasonInfo{R::length_required, "length_required", 411,
               "The request needs a Content-Length or Transfer-Encoding header.",
               "Send Content-Length (or chunked Transfer-Encoding) with every POST, PUT and PATCH.",
               "A POST, PUT or PATCH with neither Content-Length nor Transfer-Encoding."},
    ReasonInfo{R::expectation_failed, "expectation_failed", 417,
               "The Expect header cannot be met.",
               "The only supported expectation is 100-continue.",
               "An Expect header with a value other than 100-continue."},
    ReasonInfo{R::http_version_not_supported, "http_version_not_supported", 505,
               "The HTTP version is not supported.",
               "Use HTTP/1.1 (or HTTP/1.0).",
               "A request line with an HTTP version other than 1.0 or 1.1."},
    ReasonInfo{R::bad_request, "bad_request", 400,
               "The request is not valid HTTP.",
               "Check the request line, header syntax, chunked encoding and that Content-Length and Transfer-Encoding do not conflict.",
               "A malformed request line or header, broken chunked encoding, or conflicting length headers."},
    ReasonInfo{R::internal, "internal", 500,
               "An internal error occurred.",
               "Retry later; if it persists, report the X-Request-Id of the reply to the operator.",
               "An unexpected server-side failure. Details are in the server's log under the request id, never in the reply."},
};

}  // namespace

const ReasonInfo& reasonInfo(Reason r) {
  static_assert(kReasons.size() == static_cast<size_t>(Reason::internal) + 1,
                "every Reason needs exactly one row");
  return kReasons[static_cast<size_t>(r)];
}

std::span<const ReasonInfo> allReasons() { return kReasons; }

std::optional<Reason> reasonFromName(std::string_view name) {
  for (const auto& info : kReasons)
    if (info.name == name) return info.reason;
  return std::nullopt;
}

std::string_view errorType(int status, bool hasField) {
  if (status == 400) return "syntax";
  if (status == 401 || status == 403) return "permission";
  if (status == 422) return hasField ? "validation" : "content";
  if (status >= 500) return "system";
  return "client";
}

std::string_view statusPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 207: return "Multi-Status";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

ErrorObject::ErrorObject(Reason r) : reason(r), message(reasonInfo(r).message) {}
ErrorObject::ErrorObject(Reason r, std::string msg) : reason(r), message(std::move(msg)) {}

std::string errorInfoUrl(std::string_view docsUrl, Reason r) {
  std::string url = docsUrl.empty() ? std::string("/docs/errors") : std::string(docsUrl);
  url += '#';
  url += reasonInfo(r).name;
  return url;
}

}  // namespace restd
