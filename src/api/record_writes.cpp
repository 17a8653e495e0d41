// RecordWrites (record_writes.h): single-record writes, POST of a batch,
// and the write job around each. PATCH and DELETE batches are in
// record_batches.cpp.
#include <rapidjson/document.h>

#include "api/access.h"
#include "api/call.h"
#include "api/idempotency.h"
#include "api/record_helpers.h"
#include "api/record_replies.h"
#include "api/record_writes.h"
#include "api/reply_writer.h"
#include "common/json.h"
#include "common/log.h"
#include "common/record_ids.h"
#include "common/time.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;

// Galloping (-2, -4, -8, ... until one is free) and then bisecting between
// the last taken and the first free suffix costs O(log n) index probes for the
// n-th record named alike, where trying -2, -3, ... in turn cost n on the
// single writer. With suffixes freed by deletes it may pick a higher free one
// than the lowest; either is unique. In owner collections slugs are unique
// per owner (SPEC §4).
std::string slugBase(const CollectionSpec& spec, const store::Record& r) {
  std::string base;
  if (!spec.slugFrom) return base;
  auto it = r.values.FindMember(spec.slugFrom->c_str());
  if (it != r.values.MemberEnd() && it->value.IsString())
    base = slugify(std::string_view(it->value.GetString(), it->value.GetStringLength()));
  if (base.empty()) base = std::string(recordIdSuffix(r.id));
  return base;
}

Status chooseSlug(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& owner, store::Record& r,
                        const SlugTest& alsoTaken) {
  if (!spec.slugFrom) return {};
  const std::string base = slugBase(spec, r);
  Status failure;
  auto taken = [&](int n) {
    bool t = false;
    std::string candidate = slugCandidate(base, n);
    if (alsoTaken && alsoTaken(candidate)) return true;
    if (!failure) failure = txn.slugTaken(spec, owner, candidate, t);
    return t && !failure;
  };
  int free = 1;
  if (taken(1)) {
    int lo = 1, hi = 2;  // lo is taken; hi is the next probe
    while (taken(hi) && hi < (1 << 30)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1 && !failure) {
      int mid = lo + (hi - lo) / 2;
      if (taken(mid)) lo = mid;
      else hi = mid;
    }
    free = hi;
  }
  if (failure) return failure;
  r.slug = slugCandidate(base, free);
  return {};
}

namespace {

// Assigns the system fields of a new record and picks its slug.
Status prepareNew(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& owner, store::Record& r) {
  r.id = newRecordId(spec.idPrefix);
  r.createdAt = r.updatedAt = nowMillis();
  r.version = 1;
  r.owner = owner;
  return chooseSlug(txn, spec, owner, r);
}

}  // namespace

std::optional<ErrorObject> RecordWrites::loadForWrite(store::WriteTxn& txn, const Service::Call& call,
                                                      const std::string& id, store::Record& r) {
  // By id only. A record you cannot see fails exactly like one that does not
  // exist (same reason, same message): nothing may tell them apart.
  if (auto e = txn.get(*call.collection, id, r); e || r.id != id) return missingRecord(e, call.request);
  return denyWrite(call, r);
}

std::optional<ErrorObject> RecordWrites::denyWrite(const Service::Call& call, const store::Record& r) {
  if (!canSee(*call.collection, call.principal(), r)) return ErrorObject(Reason::not_found);
  if (!canChange(call.principal(), r))
    return ErrorObject(Reason::forbidden, "Your role allows changing only the records you created.");
  return std::nullopt;
}

Status RecordWrites::logChange(store::WriteTxn& txn, const Service::Call& call, std::string_view kind,
                               const store::Record& r) {
  return txn.appendEvent(eventOf(*call.collection, kind, r));
}

void RecordWrites::finish(const Service::Call& call, Reply reply) const {
  // Not kept: what depends on the caller's state rather than the request
  // (401, 403, 429) and storage failures (5xx), which a retry may get past.
  bool kept = reply.status < 500 && reply.status != 401 && reply.status != 403 && reply.status != 429;
  if (!call.submitted && call.idempotent() && kept) {
    auto answer = std::make_shared<Reply>(std::move(reply));
    auto& owned = const_cast<Service::Call&>(call);  // every Call is owned by a CallPtr (Service::handle())
    return submit(owned.shared_from_this(), [answer](store::WriteTxn&, bool& keep) {
      keep = false;
      return std::move(*answer);
    });
  }
  replies_.answer(call, std::move(reply));
}

void RecordWrites::submit(const Service::CallPtr& call, TxnWork work) const {
  call->submitted = true;
  std::optional<IdempotentWrite> idempotent =
      IdempotentWrite::of(call->request, call->principal() ? call->principal()->userId : std::string());
  if (idempotent && idempotent->tooLong())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_parameter,
                                                    "The Idempotency-Key header is longer than 255 characters.")));
  auto out = std::make_shared<Response>();
  out->status = 0;  // 0 until the job answers: a job that threw answers nothing (500 below)
  // Without an Idempotency-Key nothing stores the rendered reply: the job
  // hands its Reply over and the I/O thread renders it (the writer thread is
  // the one thing all writes share).
  auto unrendered = std::make_shared<std::optional<Reply>>();
  store_.submitWrite(
      [this, call, work = std::move(work), idempotent = std::move(idempotent), out,
       unrendered](store::WriteTxn& txn) {
        if (idempotent)
          return idempotent->run(
              txn, work, [&](Reply r) { return replies_.render(*call, std::move(r)); }, call->request, *out);
        bool keep = false;
        *unrendered = work(txn, keep);
        return keep;
      },
      [this, call, out, unrendered](bool committed) { writeDone(call, committed, *out, *unrendered); });
}

void RecordWrites::writeDone(const Service::CallPtr& call, bool committed, Response& out,
                             std::optional<Reply>& unrendered) const {
  if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
  events_.wake();  // the change feed reads the log now, not at its next poll
  if (out.status == 0 && !unrendered.has_value()) {
    logInternalError(call->request.requestId, "the write job ended without a reply");
    return finish(*call, Reply::failure(ErrorObject(Reason::internal)));
  }
  if (unrendered.has_value()) {
    out.render = [this, call, reply = std::make_shared<Reply>(std::move(*unrendered))](Response& res) {
      auto exchange = std::move(res.headers);  // send()'s, kept after the reply's own
      std::string exchangeLines = std::move(res.headerLines);
      uint16_t routeTag = res.routeTag;
      bool varies = res.varies;
      res = replies_.render(*call, std::move(*reply));
      res.routeTag = routeTag;
      res.varies = res.varies || varies;
      res.headers.insert(res.headers.end(), std::make_move_iterator(exchange.begin()),
                         std::make_move_iterator(exchange.end()));
      res.headerLines = std::move(exchangeLines);
    };
  }
  replies_.send(*call, std::move(out));
}

// ------------------------------------------------------------------ create

std::optional<ErrorObject> RecordWrites::readCollectionWrite(const Service::Call& call, bool& atomic,
                                                             std::shared_ptr<rapidjson::Document>& body) const {
  if (auto e = onlyParams(call.query, {"envelope", "access_token", "atomic"})) return e;
  if (auto e = readAtomic(call.query, atomic)) return e;
  body = std::make_shared<rapidjson::Document>();
  return readBody(call, *body);
}

void RecordWrites::create(const Service::CallPtr& call) {
  bool atomic = true;
  std::shared_ptr<rapidjson::Document> input;
  if (auto e = readCollectionWrite(*call, atomic, input)) return finish(*call, Reply::failure(*e));
  rapidjson::Document& body = *input;
  const CollectionSpec* spec = call->collection;
  std::string owner = call->principal() ? call->principal()->userId : std::string(kSystemOwner);

  if (body.IsObject()) {
    auto record = std::make_shared<store::Record>();
    if (auto e = buildValues(*call->rules, body, WriteMode::create, nullptr, record->values))
      return finish(*call, Reply::failure(*e));
    return submit(call, [this, call, spec, owner, record](store::WriteTxn& txn, bool& keep) {
      if (auto e = prepareNew(txn, *spec, owner, *record)) return Reply::failure(storeError(e, call->request));
      if (auto e = txn.insert(*spec, *record)) return Reply::failure(storeError(e, call->request));
      if (auto e = logChange(txn, *call, "created", *record)) return Reply::failure(storeError(e, call->request));
      keep = true;
      Reply reply = recordReply(*call, *record, 201, ReplyKind::created);
      reply.header("Location", config_.server.basePath + "/" + spec->name + "/" + record->id);
      return reply;
    });
  }
  if (!body.IsArray())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json, "The body must be a JSON object (one " +
                                                                              spec->singular + ") or an array of them.")));
  size_t n = body.Size();
  if (auto e = batchSize(n)) return finish(*call, Reply::failure(*e));
  // Validate every item first (outside the transaction).
  auto items = std::make_shared<std::vector<BatchItem>>(n);
  bool structural = false;
  for (size_t i = 0; i < n; ++i) {
    BatchItem& it = (*items)[i];
    it.raw = &body[static_cast<rapidjson::SizeType>(i)];
    if (!it.raw->IsObject()) {
      it.error = ErrorObject(Reason::invalid_json, "Item " + std::to_string(i) + " is not a JSON object.");
      structural = true;
      continue;
    }
    store::Record r;
    if (auto e = buildValues(*call->rules, *it.raw, WriteMode::create, nullptr, r.values)) it.error = std::move(*e);
    else it.record = std::move(r);
  }
  submit(call, [this, call, spec, owner, input, items, atomic, structural](store::WriteTxn& txn, bool& keep) {
    auto fail = [&](BatchItem& it, const Status& e) {
      it.error = storeError(e, call->request);
      it.record.reset();
    };
    if (spec->slugFrom) {
      // One at a time: each slug must see the ones the batch took before it.
      for (auto& it : *items) {
        if (it.error || structural) continue;
        Status e = prepareNew(txn, *spec, owner, *it.record);
        if (!e) e = txn.insert(*spec, *it.record);
        if (!e) e = logChange(txn, *call, "created", *it.record);
        if (e) fail(it, e);
      }
    } else if (!structural) {
      // Without slugs the records are independent until the store meets
      // their unique values: one insertMany (a few multi-row statements in
      // PostgreSQL) instead of a round trip per record.
      std::vector<BatchItem*> pending;
      std::vector<const store::Record*> records;
      for (auto& it : *items) {
        if (it.error) continue;
        if (auto e = prepareNew(txn, *spec, owner, *it.record)) {
          fail(it, e);
          continue;
        }
        pending.push_back(&it);
        records.push_back(&*it.record);
      }
      std::vector<Status> errors;
      txn.insertMany(*spec, records, errors);
      for (size_t i = 0; i < pending.size(); ++i) {
        if (!errors[i]) errors[i] = logChange(txn, *call, "created", *pending[i]->record);
        if (errors[i]) fail(*pending[i], errors[i]);
      }
    }
    return batchReply(*call, *items, atomic || structural, 201, false, keep);
  });
}

// ------------------------------------------------------------------ one record

std::optional<ErrorObject> RecordWrites::checkWritable(const Service::Call& call) const {
  store::Record current;
  if (auto e = store_.get(*call.collection, call.match.id, current); e || current.id != call.match.id)
    return missingRecord(e, call.request);
  return denyWrite(call, current);
}

void RecordWrites::replace(const Service::CallPtr& call) { patchOrReplace(call, WriteMode::replace); }
void RecordWrites::patch(const Service::CallPtr& call) { patchOrReplace(call, WriteMode::patch); }

void RecordWrites::patchOrReplace(const Service::CallPtr& call, WriteMode mode) const {
  if (auto e = onlyParams(call->query, {"envelope", "access_token"})) return finish(*call, Reply::failure(*e));
  if (auto e = checkWritable(*call)) return finish(*call, Reply::failure(*e));
  auto body = std::make_shared<rapidjson::Document>();
  if (auto e = readBody(*call, *body)) return finish(*call, Reply::failure(*e));
  if (!body->IsObject())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json, "The body must be a JSON object describing one " +
                                                                              call->collection->singular + ".")));
  auto replacement = std::make_shared<rapidjson::Document>();
  if (mode == WriteMode::replace)
    if (auto e = buildValues(*call->rules, *body, mode, nullptr, *replacement)) return finish(*call, Reply::failure(*e));
  bool hasIfMatch = call->request.hasHeader("If-Match");
  std::string ifMatch(call->request.header("If-Match"));
  submit(call, [=](store::WriteTxn& txn, bool& keep) {
    const CollectionSpec& spec = *call->collection;
    store::Record r;
    if (auto denied = loadForWrite(txn, *call, call->match.id, r)) return Reply::failure(*denied);
    if (hasIfMatch && !ifMatchAccepts(ifMatch, versionTag(r)))
      return Reply::failure(ErrorObject(Reason::precondition_failed));
    if (mode == WriteMode::patch) {
      rapidjson::Document merged;
      if (auto e = buildValues(*call->rules, *body, mode, &r.values, merged)) return Reply::failure(*e);
      r.values.Swap(merged);
    } else {
      r.values.Swap(*replacement);
    }
    r.updatedAt = std::max(nowMillis(), r.createdAt);
    r.version += 1;
    if (auto e = txn.update(spec, r)) return Reply::failure(storeError(e, call->request));
    if (auto e = logChange(txn, *call, "updated", r)) return Reply::failure(storeError(e, call->request));
    keep = true;
    return recordReply(*call, r, 200, ReplyKind::updated);
  });
}

void RecordWrites::remove(const Service::CallPtr& call) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token"})) return finish(*call, Reply::failure(*e));
  if (auto e = checkWritable(*call)) return finish(*call, Reply::failure(*e));
  bool hasIfMatch = call->request.hasHeader("If-Match");
  std::string ifMatch(call->request.header("If-Match"));
  submit(call, [=](store::WriteTxn& txn, bool& keep) {
    const CollectionSpec& spec = *call->collection;
    const std::string& id = call->match.id;
    store::Record r;
    if (auto denied = loadForWrite(txn, *call, id, r)) return Reply::failure(*denied);
    if (hasIfMatch && !ifMatchAccepts(ifMatch, versionTag(r)))
      return Reply::failure(ErrorObject(Reason::precondition_failed));
    if (auto e = txn.remove(spec, id)) return Reply::failure(storeError(e, call->request));
    if (auto e = logChange(txn, *call, "deleted", r)) return Reply::failure(storeError(e, call->request));
    keep = true;
    Reply reply;
    reply.kind = ReplyKind::deleted;
    reply.collection = spec.name;
    reply.singular = spec.singular;
    auto& a = reply.data.GetAllocator();
    reply.data.SetObject();
    reply.data.AddMember("id", rapidjson::Value(id.c_str(), static_cast<rapidjson::SizeType>(id.size()), a), a);
    reply.data.AddMember("deleted", true, a);
    reply.message = "Your " + spec.singular + " (id: " + id + ") was deleted";
    return reply;
  });
}

}  // namespace restd::api
