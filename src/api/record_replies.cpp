// How a record becomes a reply, and a store failure an API error: shared by
// the reads (record_reads.cpp) and the writes.
#include "api/record_replies.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <utility>

#include "api/call.h"
#include "api/list_query.h"
#include "api/record_helpers.h"
#include "common/json.h"
#include "common/log.h"
#include "common/time.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;
using Call = Service::Call;

ErrorObject storeError(const Status& e, const Request& request) {
  switch (e.code) {
    case StatusCode::notFound: return ErrorObject(Reason::not_found);
    case StatusCode::uniqueViolation:
      return ErrorObject(Reason::unique_violation, uniqueViolationMessage(e.field))
          .withField(e.field);  // field names the column, as SPEC §10 asks of a 409
    case StatusCode::unavailable:
      logInternalError(request.requestId, e.detail);
      return ErrorObject(Reason::storage_unavailable);
    default:
      logInternalError(request.requestId, e.detail);
      return ErrorObject(Reason::internal);
  }
}

namespace {

// recordToJson()'s work: copies r's values into `out`, or moves them when `r`
// is not const (then `a` must be the pool behind them, or one that outlives
// them).
template <typename RecordT>
void fillRecord(const CollectionSpec& c, RecordT& r, const std::vector<std::string>* fields, rapidjson::Value& out,
                rapidjson::Document::AllocatorType& a) {
  out.SetObject();
  auto wanted = [&](std::string_view k) {
    return !fields || fields->empty() || std::find(fields->begin(), fields->end(), k) != fields->end();
  };
  auto addString = [&](const char* k, std::string_view v) {
    if (wanted(k))
      out.AddMember(rapidjson::StringRef(k), rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), a),
                    a);
  };
  addString("id", r.id);
  if (c.slugFrom && wanted("slug")) {
    if (r.slug) addString("slug", *r.slug);
    else out.AddMember("slug", rapidjson::Value(), a);
  }
  for (auto& m : r.values.GetObject()) {
    if (!wanted(std::string_view(m.name.GetString(), m.name.GetStringLength()))) continue;
    if constexpr (std::is_const_v<RecordT>) addMemberCopy(out, m, a);
    else out.AddMember(m.name, m.value, a);
  }
  // Formatted into one buffer per thread (its capacity stays), and once when
  // both are the same instant (every new record).
  thread_local std::string date;
  auto format = [&](int64_t ms) -> std::string_view {
    date.clear();
    appendRfc3339(date, SysTime(std::chrono::milliseconds(ms)));
    return date;
  };
  bool created = wanted("createdAt");
  if (created) addString("createdAt", format(r.createdAt));
  if (wanted("updatedAt")) addString("updatedAt", created && r.updatedAt == r.createdAt ? date : format(r.updatedAt));
  if (wanted("version")) out.AddMember("version", rapidjson::Value(r.version), a);
  addString("owner", r.owner);
}

}  // namespace

void takeValues(const CollectionSpec& c, store::Record& r, const std::vector<std::string>* fields,
                rapidjson::Value& out, rapidjson::Document::AllocatorType& a) {
  if (&r.values.GetAllocator() == &a) fillRecord(c, r, fields, out, a);
  else fillRecord(c, std::as_const(r), fields, out, a);
}


ErrorObject missingRecord(const Status& e, const Request& request) {
  return e && e.code != StatusCode::notFound ? storeError(e, request) : ErrorObject(Reason::not_found);
}

void recordToJson(const CollectionSpec& c, const store::Record& r, const std::vector<std::string>* fields,
                  rapidjson::Value& out, rapidjson::Document::AllocatorType& a) {
  fillRecord(c, r, fields, out, a);
}

void describeRecord(const Call& call, const store::Record& r, int status, ReplyKind kind, Reply& reply) {
  reply.status = status;
  reply.kind = kind;
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  reply.headers.reserve(3);  // these two, and Location after a create
  reply.header("ETag", etagOf(r, call.representation()));
  reply.header("Last-Modified", formatHttpDate(SysTime(std::chrono::milliseconds(r.updatedAt))));
  reply.dateFields = &call.rules->dateFields;
}

Reply recordReply(const Call& call, const store::Record& r, int status, ReplyKind kind) {
  Reply reply;
  recordToJson(*call.collection, r, nullptr, reply.data, reply.data.GetAllocator());
  describeRecord(call, r, status, kind, reply);
  return reply;
}

Reply takeRecordReply(const Call& call, store::Record& r, const std::vector<std::string>& fields) {
  // The record's pool, when its values are in it, becomes the reply's.
  bool ownPool = r.pool && &r.values.GetAllocator() == r.pool.get();
  Reply reply = ownPool ? Reply(std::move(r.pool)) : Reply();
  takeValues(*call.collection, r, fields.empty() ? nullptr : &fields, reply.data, reply.data.GetAllocator());
  describeRecord(call, r, 200, ReplyKind::record, reply);
  return reply;
}

std::optional<ErrorObject> readBody(const Call& call, rapidjson::Document& out) {
  std::string_view ct = call.request.header("Content-Type");
  std::string media = lower(trim(ct.substr(0, ct.find(';'))));
  if (media.empty())
    return ErrorObject(Reason::unsupported_media_type,
                       "The request has no Content-Type; send application/json or application/x-www-form-urlencoded.");
  // SPEC §6: JSON or form, and on PATCH also JSON Merge Patch (RFC 7396, which
  // is what PATCH does with JSON anyway); anything else with a body is 415.
  if (media == "application/json" || (media == "application/merge-patch+json" && call.request.method == "PATCH")) {
    std::string why;
    if (!parseStrictJson(call.request.body, out, why)) return ErrorObject(Reason::invalid_json, why);
    return std::nullopt;
  }
  if (media == "application/x-www-form-urlencoded") {
    QueryParams form;
    if (auto e = readForm(call.request.body, form)) return e;
    formToJson(*call.rules, form, out);
    return std::nullopt;
  }
  return ErrorObject(Reason::unsupported_media_type,
                     "The Content-Type \"" + std::string(ct) +
                         "\" is not supported; send application/json" +
                         (call.request.method == "PATCH" ? ", application/merge-patch+json" : "") +
                         " or application/x-www-form-urlencoded.");
}

}  // namespace restd::api
