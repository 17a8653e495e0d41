// Reads of records (SPEC §4, §7): one record by id or slug, and lists.
// Answered inline; the pipelined GET's halves are fields() and found().
#include "api/record_reads.h"

#include <charconv>
#include <cstdio>

#include "api/access.h"
#include "api/call.h"
#include "api/list_query.h"
#include "api/record_helpers.h"
#include "api/record_replies.h"
#include "api/reply_writer.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;
using Call = Service::Call;

std::optional<ErrorObject> RecordReads::fields(const Call& call, std::vector<std::string>& fields) const {
  if (auto e = onlyParams(call.query, {"fields", "envelope", "access_token"})) return e;
  if (const std::string* f = findParam(call.query, "fields"); f && !f->empty()) {
    ListRequest lr;
    QueryParams only{{"fields", *f}};
    if (auto e = parseListRequest(*call.rules, only, lr)) return e;
    fields = std::move(lr.fields);
  }
  return std::nullopt;
}

store::SlugScope RecordReads::slugScope(const Call& call) {
  store::SlugScope scope;
  if (call.principal()) scope.owner = call.principal()->userId;
  scope.anyOwner = call.isAdmin();
  return scope;
}

Reply RecordReads::found(const Call& call, const Status& e, store::Record& r,
                           const std::vector<std::string>& fields) const {
  if (e) return Reply::failure(storeError(e, call.request));
  if (!canSee(*call.collection, call.principal(), r)) return Reply::failure(ErrorObject(Reason::not_found));  // never 403: it does not exist for you
  Reply reply = takeRecordReply(call, r, fields);
  reply.conditional = true;  // If-None-Match / If-Modified-Since: the http layer, which picks the coding
  return reply;
}

Reply RecordReads::get(const Call& call) const {
  std::vector<std::string> fields;
  if (auto e = this->fields(call, fields)) return Reply::failure(*e);
  store::Record r;
  Status e = store_.get(*call.collection, call.match.id, r, slugScope(call));
  return found(call, e, r, fields);
}

Reply RecordReads::list(const Call& call) const {
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

void Service::getRecordOnLoop(const CallPtr& call) {
  std::vector<std::string> fields;
  if (auto e = reads_->fields(*call, fields)) return finish(*call, Reply::failure(*e));
  store::GetDone done = [this, call, fields = std::move(fields)](Status e, store::Record& r) {
    finish(*call, reads_->found(*call, e, r, fields));
  };
  if (store_.getAsync(*call->collection, call->match.id, RecordReads::slugScope(*call), done)) return;
  offLoop(call, [this, call] { finish(*call, reads_->get(*call)); });
}

}  // namespace restd::api
