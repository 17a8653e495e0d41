// Record handlers: list, get, create, replace, patch, delete (SPEC §3, §4, §7).
// Reads answer inline. Writes validate on the I/O thread, then run as a job in
// the store's shared transaction and answer from its `done` callback.
#include <rapidjson/document.h>

#include <algorithm>

#include "api/call.h"
#include "api/list_query.h"
#include "common/json.h"
#include "common/record_ids.h"
#include "common/time.h"
#include "http/access_log.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;

namespace {

std::string etagOf(const store::Record& r) { return "\"" + r.id + "." + std::to_string(r.version) + "\""; }

// If-Match / If-None-Match: "*" or a list of entity tags (weak ones never match strongly).
bool etagListMatches(std::string_view header, const std::string& etag, bool weakOk) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "*") return true;
    if (item.starts_with("W/")) {
      if (!weakOk) continue;
      item.remove_prefix(2);
    }
    if (item == etag) return true;
  }
  return false;
}

uint64_t fnv1a(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// Only these query parameters make sense on a single-record or write request.
std::optional<ErrorObject> onlyParams(const QueryParams& q, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : q)
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
      return ErrorObject(Reason::unknown_parameter, "The query parameter \"" + k + "\" is not understood here.");
  return std::nullopt;
}

}  // namespace

struct WriteState {
  store::Record record;
  std::optional<ErrorObject> error;
  std::string internalDetail;  // for the log when `error` is 500/502
  rapidjson::Document body;  // patch: applied inside the transaction
};

namespace {

ErrorObject writeError(const store::Error& e, const CollectionSpec& spec) {
  if (e.status == store::Status::uniqueViolation)
    return ErrorObject(Reason::unique_violation,
                       "Another " + spec.singular + " already has this value in the unique field \"" + e.field + "\".")
        .withField(e.field);
  if (e.status == store::Status::notFound) return ErrorObject(Reason::not_found);
  return ErrorObject(e.status == store::Status::unavailable ? Reason::storage_unavailable : Reason::internal);
}

}  // namespace

ErrorObject Service::storeError(const store::Error& e, const http::Request& request) {
  switch (e.status) {
    case store::Status::notFound: return ErrorObject(Reason::not_found);
    case store::Status::uniqueViolation:
      return ErrorObject(Reason::unique_violation,
                         "Another record already has this value in the unique field \"" + e.field + "\".")
          .withField(e.field);
    case store::Status::unavailable:
      http::AccessLog::internalError(request.requestId, e.detail);
      return ErrorObject(Reason::storage_unavailable);
    default:
      http::AccessLog::internalError(request.requestId, e.detail);
      return ErrorObject(Reason::internal);
  }
}

void Service::recordJson(const CollectionSpec& c, const store::Record& r, const std::vector<std::string>* fields,
                         rapidjson::Value& out, rapidjson::Document::AllocatorType& a) const {
  out.SetObject();
  auto wanted = [&](std::string_view k) {
    return !fields || fields->empty() || std::find(fields->begin(), fields->end(), k) != fields->end();
  };
  auto addString = [&](const char* k, const std::string& v) {
    if (wanted(k))
      out.AddMember(rapidjson::StringRef(k), rapidjson::Value(v.c_str(), static_cast<rapidjson::SizeType>(v.size()), a),
                    a);
  };
  addString("id", r.id);
  if (c.slugFrom && wanted("slug")) {
    if (r.slug) addString("slug", *r.slug);
    else out.AddMember("slug", rapidjson::Value(), a);
  }
  for (auto& m : r.values.GetObject()) {
    if (!wanted(std::string_view(m.name.GetString(), m.name.GetStringLength()))) continue;
    out.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
  }
  addString("createdAt", formatRfc3339(SysTime(std::chrono::milliseconds(r.createdAt))));
  addString("updatedAt", formatRfc3339(SysTime(std::chrono::milliseconds(r.updatedAt))));
  if (wanted("version")) out.AddMember("version", rapidjson::Value(r.version), a);
  addString("owner", r.owner);
}

Reply Service::recordReply(const Call& call, const store::Record& r, int status, ReplyKind kind) const {
  Reply reply;
  reply.status = status;
  reply.kind = kind;
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  recordJson(*call.collection, r, nullptr, reply.data, reply.data.GetAllocator());
  reply.header("ETag", etagOf(r));
  reply.header("Last-Modified", formatHttpDate(SysTime(std::chrono::milliseconds(r.updatedAt))));
  reply.dateFields = {"createdAt", "updatedAt"};
  for (const auto& f : call.collection->fields)
    if (f.type == FieldType::datetime) reply.dateFields.push_back(f.name);
  return reply;
}

std::optional<ErrorObject> Service::readBody(const Call& call, rapidjson::Document& out) const {
  std::string_view ct = call.request.header("Content-Type");
  std::string media = lower(ct.substr(0, ct.find(';')));
  while (!media.empty() && media.back() == ' ') media.pop_back();
  while (!media.empty() && media.front() == ' ') media.erase(media.begin());
  if (media.empty())
    return ErrorObject(Reason::unsupported_media_type,
                       "The request has no Content-Type; send application/json or application/x-www-form-urlencoded.");
  if (media == "application/json" || media == "application/merge-patch+json" || media.ends_with("+json")) {
    std::string why;
    if (!parseStrictJson(call.request.body, out, why)) return ErrorObject(Reason::invalid_json, why);
    return std::nullopt;
  }
  if (media == "application/x-www-form-urlencoded") {
    QueryParams form;
    if (!parseQuery(call.request.body, form))
      return ErrorObject(Reason::invalid_parameter, "The form body has a malformed percent-escape.");
    formToJson(*call.rules, form, out);
    return std::nullopt;
  }
  return ErrorObject(Reason::unsupported_media_type,
                     "The Content-Type \"" + std::string(ct) +
                         "\" is not supported; send application/json or application/x-www-form-urlencoded.");
}

Reply Service::getRecord(const Call& call) const {
  if (auto e = onlyParams(call.query, {"fields", "envelope", "access_token"})) return Reply::failure(*e);
  std::vector<std::string> fields;
  if (const std::string* f = findParam(call.query, "fields"); f && !f->empty()) {
    ListRequest lr;
    QueryParams only{{"fields", *f}};
    if (auto e = parseListRequest(*call.rules, only, lr)) return Reply::failure(*e);
    fields = lr.fields;
  }
  store::Record r;
  if (auto e = store_.get(*call.collection, call.match.id, r)) return Reply::failure(storeError(e, call.request));
  if (!canSee(call, r)) return Reply::failure(ErrorObject(Reason::not_found));  // never 403: it does not exist for you
  std::string etag = etagOf(r);
  std::string lastModified = formatHttpDate(SysTime(std::chrono::milliseconds(r.updatedAt)));
  bool notModified = false;
  if (call.request.hasHeader("If-None-Match")) {
    notModified = etagListMatches(call.request.header("If-None-Match"), etag, true);
  } else if (call.request.hasHeader("If-Modified-Since")) {
    auto since = parseHttpDate(call.request.header("If-Modified-Since"));
    notModified = since && r.updatedAt / 1000 <= *since;
  }
  if (notModified) {
    Reply reply;
    reply.status = 304;
    reply.kind = ReplyKind::empty;
    reply.header("ETag", etag).header("Last-Modified", lastModified);
    return reply;
  }
  Reply reply = recordReply(call, r, 200, ReplyKind::record);
  if (!fields.empty()) recordJson(*call.collection, r, &fields, reply.data, reply.data.GetAllocator());
  return reply;
}

Reply Service::listRecords(const Call& call) const {
  ListRequest lr;
  if (auto e = parseListRequest(*call.rules, call.query, lr)) return Reply::failure(*e);
  if (call.collection->visibility == Visibility::owner && !call.isAdmin())
    lr.query.owner = call.principal() ? call.principal()->userId : std::string();  // anonymous owns nothing
  store::ListResult res;
  if (auto e = store_.list(*call.collection, lr.query, res)) return Reply::failure(storeError(e, call.request));

  Reply reply;
  reply.kind = ReplyKind::list;
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  auto& a = reply.data.GetAllocator();
  reply.data.SetArray();
  uint64_t hash = 1469598103934665603ULL;
  for (const auto& r : res.records) {
    rapidjson::Value v;
    recordJson(*call.collection, r, &lr.fields, v, a);
    reply.data.PushBack(v, a);
    hash = fnv1a(hash, r.id);
    hash = fnv1a(hash, std::to_string(r.version));
  }
  render::Pagination p;
  p.perPage = lr.perPage;
  std::optional<std::string> nextCursor;
  if (lr.cursorMode) {
    p.page.reset();
    if (res.hasMore && !res.records.empty()) nextCursor = encodeCursor(*call.rules, lr, res.records.back());
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
  std::snprintf(etag, sizeof etag, "\"l%016llx\"", static_cast<unsigned long long>(hash));
  if (call.request.hasHeader("If-None-Match") && etagListMatches(call.request.header("If-None-Match"), etag, true)) {
    Reply nm;
    nm.status = 304;
    nm.kind = ReplyKind::empty;
    nm.header("ETag", etag);
    return nm;
  }
  reply.header("ETag", etag);
  reply.dateFields = {"createdAt", "updatedAt"};
  return reply;
}

void Service::failWrite(const Call& call, const WriteState& state) const {
  if (!state.internalDetail.empty() && state.error->status() >= 500)
    http::AccessLog::internalError(call.request.requestId, state.internalDetail);
  finish(call, Reply::failure(*state.error));
}

void Service::createRecord(const CallPtr& call) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token", "atomic"})) return finish(*call, Reply::failure(*e));
  rapidjson::Document body;
  if (auto e = readBody(*call, body)) return finish(*call, Reply::failure(*e));
  if (body.IsArray())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json,
                                                    "This version creates one record per request: send one JSON "
                                                    "object (batch arrays are not available yet).")));
  auto state = std::make_shared<WriteState>();
  if (auto e = buildValues(*call->rules, body, WriteMode::create, nullptr, state->record.values))
    return finish(*call, Reply::failure(*e));

  const CollectionSpec* spec = call->collection;
  std::string owner = call->principal() ? call->principal()->userId : std::string(kSystemOwner);
  store_.submitWrite(
      [spec, state, owner](store::WriteTxn& txn) {
        store::Record& r = state->record;
        r.id = newRecordId(spec->idPrefix);
        r.createdAt = r.updatedAt = nowMillis();
        r.version = 1;
        r.owner = owner;
        if (spec->slugFrom) {
          auto it = r.values.FindMember(spec->slugFrom->c_str());
          std::string base;
          if (it != r.values.MemberEnd() && it->value.IsString())
            base = slugify(std::string_view(it->value.GetString(), it->value.GetStringLength()));
          if (base.empty()) base = std::string(recordIdSuffix(r.id));
          for (int n = 1;; ++n) {
            std::string candidate = slugCandidate(base, n);
            if (!txn.slugTaken(*spec, candidate)) {
              r.slug = candidate;
              break;
            }
          }
        }
        if (auto e = txn.insert(*spec, r)) {
          state->error = writeError(e, *spec);
          state->internalDetail = e.detail;
          return false;
        }
        return true;
      },
      [this, call, state](bool committed) {
        if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
        if (state->error) return failWrite(*call, *state);
        Reply reply = recordReply(*call, state->record, 201, ReplyKind::created);
        reply.header("Location", config_.server.basePath + "/" + call->collection->name + "/" + state->record.id);
        finish(*call, std::move(reply));
      });
}

namespace {

// The shared part of PUT, PATCH and DELETE inside the transaction: the record
// must still exist and match If-Match.
bool loadForWrite(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& id, const std::string& ifMatch,
                  bool hasIfMatch, const std::function<std::optional<ErrorObject>(const store::Record&)>& access,
                  WriteState& state) {
  if (auto e = txn.get(spec, id, state.record); e || state.record.id != id) {
    state.error = e.status == store::Status::unavailable ? ErrorObject(Reason::storage_unavailable)
                                                         : ErrorObject(Reason::not_found);
    return false;
  }
  if (auto denied = access(state.record)) {
    state.error = std::move(*denied);
    return false;
  }
  if (hasIfMatch && !etagListMatches(ifMatch, etagOf(state.record), false)) {
    state.error = ErrorObject(Reason::precondition_failed);
    return false;
  }
  return true;
}


}  // namespace

void Service::replaceRecord(const CallPtr& call) { patchOrReplace(call, WriteMode::replace); }
void Service::patchRecord(const CallPtr& call) { patchOrReplace(call, WriteMode::patch); }

void Service::patchOrReplace(const CallPtr& call, WriteMode mode) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token"})) return finish(*call, Reply::failure(*e));
  // The record first (404 before any body error), by id only.
  store::Record current;
  if (auto e = store_.get(*call->collection, call->match.id, current); e || current.id != call->match.id)
    return finish(*call, Reply::failure(e.status == store::Status::unavailable ? storeError(e, call->request)
                                                                               : ErrorObject(Reason::not_found)));
  // Checked again inside the transaction, where it counts; here for the order of errors.
  auto access = [this, call](const store::Record& r) -> std::optional<ErrorObject> {
    if (!canSee(*call, r)) return ErrorObject(Reason::not_found);
    if (!canChange(*call, r))
      return ErrorObject(Reason::forbidden, "Your role allows changing only the records you created.");
    return std::nullopt;
  };
  if (auto denied = access(current)) return finish(*call, Reply::failure(*denied));
  auto state = std::make_shared<WriteState>();
  if (auto e = readBody(*call, state->body)) return finish(*call, Reply::failure(*e));
  if (!state->body.IsObject())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json,
                                                    "The body must be a JSON object describing one " +
                                                        call->collection->singular + ".")));
  rapidjson::Document values;
  if (mode == WriteMode::replace) {
    if (auto e = buildValues(*call->rules, state->body, mode, nullptr, values)) return finish(*call, Reply::failure(*e));
  }
  auto newValues = std::make_shared<rapidjson::Document>(std::move(values));
  const CollectionSpec* spec = call->collection;
  const CollectionRules* rules = call->rules;
  std::string id = call->match.id;
  bool hasIfMatch = call->request.hasHeader("If-Match");
  std::string ifMatch(call->request.header("If-Match"));
  store_.submitWrite(
      [=](store::WriteTxn& txn) {
        if (!loadForWrite(txn, *spec, id, ifMatch, hasIfMatch, access, *state)) return false;
        store::Record& r = state->record;
        if (mode == WriteMode::patch) {
          rapidjson::Document merged;
          if (auto e = buildValues(*rules, state->body, mode, &r.values, merged)) {
            state->error = std::move(*e);
            return false;
          }
          r.values.Swap(merged);
        } else {
          r.values.Swap(*newValues);
        }
        r.updatedAt = std::max(nowMillis(), r.createdAt);
        r.version += 1;
        if (auto e = txn.update(*spec, r)) {
          state->error = writeError(e, *spec);
          state->internalDetail = e.detail;
          return false;
        }
        return true;
      },
      [this, call, state](bool committed) {
        if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
        if (state->error) return failWrite(*call, *state);
        finish(*call, recordReply(*call, state->record, 200, ReplyKind::updated));
      });
}

void Service::deleteRecord(const CallPtr& call) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token"})) return finish(*call, Reply::failure(*e));
  store::Record current;
  if (auto e = store_.get(*call->collection, call->match.id, current); e || current.id != call->match.id)
    return finish(*call, Reply::failure(e.status == store::Status::unavailable ? storeError(e, call->request)
                                                                               : ErrorObject(Reason::not_found)));
  // Checked again inside the transaction, where it counts; here for the order of errors.
  auto access = [this, call](const store::Record& r) -> std::optional<ErrorObject> {
    if (!canSee(*call, r)) return ErrorObject(Reason::not_found);
    if (!canChange(*call, r))
      return ErrorObject(Reason::forbidden, "Your role allows changing only the records you created.");
    return std::nullopt;
  };
  if (auto denied = access(current)) return finish(*call, Reply::failure(*denied));
  auto state = std::make_shared<WriteState>();
  const CollectionSpec* spec = call->collection;
  std::string id = call->match.id;
  bool hasIfMatch = call->request.hasHeader("If-Match");
  std::string ifMatch(call->request.header("If-Match"));
  store_.submitWrite(
      [=](store::WriteTxn& txn) {
        if (!loadForWrite(txn, *spec, id, ifMatch, hasIfMatch, access, *state)) return false;
        if (auto e = txn.remove(*spec, id)) {
          state->error = writeError(e, *spec);
          state->internalDetail = e.detail;
          return false;
        }
        return true;
      },
      [this, call, state, id](bool committed) {
        if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
        if (state->error) return failWrite(*call, *state);
        Reply reply;
        reply.kind = ReplyKind::deleted;
        reply.collection = call->collection->name;
        reply.singular = call->collection->singular;
        auto& a = reply.data.GetAllocator();
        reply.data.SetObject();
        reply.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
        reply.data.AddMember("deleted", true, a);
        reply.message = "Your " + call->collection->singular + " (id: " + id + ") was deleted";
        finish(*call, std::move(reply));
      });
}

}  // namespace restd::api
