// Record handlers: list, get, create, replace, patch, delete (SPEC §3, §4, §7).
// Reads answer inline. Writes validate on the I/O thread, then run as a job in
// the store's shared transaction and answer from its `done` callback.
#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "api/access.h"
#include "api/call.h"
#include "api/list_query.h"
#include "api/record_helpers.h"
#include "common/json.h"
#include "common/log.h"
#include "common/record_ids.h"
#include "common/time.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;


ErrorObject Service::storeError(const Status& e, const Request& request) {
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
    if constexpr (std::is_const_v<RecordT>) out.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
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

// Moves r's values into `out` when they live in `a` (the reply took their
// pool), copies them otherwise.
void takeValues(const CollectionSpec& c, store::Record& r, const std::vector<std::string>* fields,
                rapidjson::Value& out, rapidjson::Document::AllocatorType& a) {
  if (&r.values.GetAllocator() == &a) fillRecord(c, r, fields, out, a);
  else fillRecord(c, std::as_const(r), fields, out, a);
}

}  // namespace

ErrorObject Service::missingRecord(const Status& e, const Request& request) {
  return e && e.code != StatusCode::notFound ? storeError(e, request) : ErrorObject(Reason::not_found);
}

void recordToJson(const CollectionSpec& c, const store::Record& r, const std::vector<std::string>* fields,
                  rapidjson::Value& out, rapidjson::Document::AllocatorType& a) {
  fillRecord(c, r, fields, out, a);
}

void Service::describeRecord(const Call& call, const store::Record& r, int status, ReplyKind kind, Reply& reply) const {
  reply.status = status;
  reply.kind = kind;
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  reply.headers.reserve(3);  // these two, and Location after a create
  reply.header("ETag", etagOf(r, call.representation()));
  reply.header("Last-Modified", formatHttpDate(SysTime(std::chrono::milliseconds(r.updatedAt))));
  reply.dateFields = &call.rules->dateFields;
}

Reply Service::recordReply(const Call& call, const store::Record& r, int status, ReplyKind kind) const {
  Reply reply;
  recordToJson(*call.collection, r, nullptr, reply.data, reply.data.GetAllocator());
  describeRecord(call, r, status, kind, reply);
  return reply;
}

Reply Service::takeRecordReply(const Call& call, store::Record& r, const std::vector<std::string>& fields) const {
  // The record's pool, when its values are in it, becomes the reply's.
  bool ownPool = r.pool && &r.values.GetAllocator() == r.pool.get();
  Reply reply = ownPool ? Reply(std::move(r.pool)) : Reply();
  takeValues(*call.collection, r, fields.empty() ? nullptr : &fields, reply.data, reply.data.GetAllocator());
  describeRecord(call, r, 200, ReplyKind::record, reply);
  return reply;
}

std::optional<ErrorObject> Service::readBody(const Call& call, rapidjson::Document& out) const {
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
    if (formBodyIsJson(call.request.body)) return ErrorObject(Reason::unsupported_media_type, std::string(kJsonSentAsForm));
    QueryParams form;
    if (!parseQuery(call.request.body, form))
      return ErrorObject(Reason::invalid_parameter, "The form body has a malformed percent-escape.");
    formToJson(*call.rules, form, out);
    return std::nullopt;
  }
  return ErrorObject(Reason::unsupported_media_type,
                     "The Content-Type \"" + std::string(ct) +
                         "\" is not supported; send application/json" +
                         (call.request.method == "PATCH" ? ", application/merge-patch+json" : "") +
                         " or application/x-www-form-urlencoded.");
}

std::optional<ErrorObject> Service::recordFields(const Call& call, std::vector<std::string>& fields) const {
  if (auto e = onlyParams(call.query, {"fields", "envelope", "access_token"})) return e;
  if (const std::string* f = findParam(call.query, "fields"); f && !f->empty()) {
    ListRequest lr;
    QueryParams only{{"fields", *f}};
    if (auto e = parseListRequest(*call.rules, only, lr)) return e;
    fields = std::move(lr.fields);
  }
  return std::nullopt;
}

store::SlugScope Service::slugScope(const Call& call) {
  store::SlugScope scope;
  if (call.principal()) scope.owner = call.principal()->userId;
  scope.anyOwner = call.isAdmin();
  return scope;
}

Reply Service::recordFound(const Call& call, const Status& e, store::Record& r,
                           const std::vector<std::string>& fields) const {
  if (e) return Reply::failure(storeError(e, call.request));
  if (!canSee(*call.collection, call.principal(), r)) return Reply::failure(ErrorObject(Reason::not_found));  // never 403: it does not exist for you
  Reply reply = takeRecordReply(call, r, fields);
  reply.conditional = true;  // If-None-Match / If-Modified-Since: the http layer, which picks the coding
  return reply;
}

Reply Service::getRecord(const Call& call) const {
  std::vector<std::string> fields;
  if (auto e = recordFields(call, fields)) return Reply::failure(*e);
  store::Record r;
  Status e = store_.get(*call.collection, call.match.id, r, slugScope(call));
  return recordFound(call, e, r, fields);
}

void Service::getRecordOnLoop(const CallPtr& call) {
  std::vector<std::string> fields;
  if (auto e = recordFields(*call, fields)) return finish(*call, Reply::failure(*e));
  store::GetDone done = [this, call, fields = std::move(fields)](Status e, store::Record& r) {
    finish(*call, recordFound(*call, e, r, fields));
  };
  if (store_.getAsync(*call->collection, call->match.id, slugScope(*call), done)) return;
  offLoop(call, [this, call] { finish(*call, getRecord(*call)); });
}

Reply Service::listRecords(const Call& call) const {
  ListRequest lr;
  if (auto e = parseListRequest(*call.rules, call.query, lr)) return Reply::failure(*e);
  if (call.collection->visibility == Visibility::owner && !call.isAdmin())
    lr.query.owner = call.principal() ? call.principal()->userId : std::string();  // anonymous owns nothing
  store::ListResult res;
  if (auto e = store_.list(*call.collection, lr.query, res)) return Reply::failure(storeError(e, call.request));

  // Before the records give their values up to the reply.
  std::optional<std::string> nextCursor;
  if (lr.cursorMode && res.hasMore && !res.records.empty())
    nextCursor = encodeCursor(*call.rules, lr, res.records.back());

  // The page's pool becomes the reply's: records whose values are in it move
  // them over; any other (a store that gave one its own pool) is copied.
  Reply reply(std::move(res.pool));
  reply.kind = ReplyKind::list;
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  auto& a = reply.data.GetAllocator();
  reply.data.SetArray();
  reply.data.Reserve(static_cast<rapidjson::SizeType>(res.records.size()), a);
  uint64_t hash = 1469598103934665603ULL;
  for (auto& r : res.records) {
    rapidjson::Value v;
    takeValues(*call.collection, r, &lr.fields, v, a);
    reply.data.PushBack(v, a);
    hash = fnv1a(hash, r.id);
    char version[24];
    hash = fnv1a(hash, std::string_view(version, std::to_chars(version, version + sizeof version, r.version).ptr - version));
  }
  render::Pagination p;
  p.perPage = lr.perPage;
  if (lr.cursorMode) {
    p.page.reset();
    p.nextCursor = nextCursor;
  } else {
    p.page = lr.page;
    if (res.total) {
      p.recordsCount = *res.total;
      p.pagesCount = (*res.total + lr.perPage - 1) / lr.perPage;
      reply.header("X-Total-Count", std::to_string(*res.total));
    }
  }
  reply.pagination = p;
  reply.header("Link", linkHeader(call.request.path, call.query, lr, p.pagesCount, res.hasMore, nextCursor));

  // The list's ETag changes whenever what it lists can: ids, versions, total, query.
  hash = fnv1a(hash, std::to_string(res.total.value_or(-1)));
  hash = fnv1a(hash, call.request.query);
  char etag[24];
  std::snprintf(etag, sizeof etag, "\"l%016llx", static_cast<unsigned long long>(hash));
  reply.header("ETag", std::string(etag) + call.representation() + "\"");
  reply.conditional = true;
  reply.dateFields = &call.rules->dateFields;
  return reply;
}

}  // namespace restd::api
