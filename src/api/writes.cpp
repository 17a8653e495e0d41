// Writes (SPEC §3-§5): create, replace, patch and delete, one record or a
// batch, with Idempotency-Key. Bodies are parsed and, where possible,
// validated on the I/O thread; the rest runs as one job in the store's shared
// transaction. A reply for an Idempotency-Key is rendered inside that job and
// stored in the same transaction as the write it describes, so a retry can
// never write twice; any other reply is handed back and rendered on the I/O
// thread after the commit.
#include <rapidjson/document.h>

#include "api/call.h"
#include "api/record_helpers.h"
#include "auth/credentials.h"
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

store::Error chooseSlug(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& owner, store::Record& r,
                        const SlugTest& alsoTaken) {
  if (!spec.slugFrom) return {};
  const std::string base = slugBase(spec, r);
  store::Error failure;
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

// The errors of a failed batch item: one per field when validation found several.
std::vector<ErrorObject> itemErrors(const ErrorObject& e) {
  if (e.details.empty()) return {e};
  return e.details;
}

// Assigns the system fields of a new record and picks its slug.
store::Error prepareNew(store::WriteTxn& txn, const CollectionSpec& spec, const std::string& owner, store::Record& r) {
  r.id = newRecordId(spec.idPrefix);
  r.createdAt = r.updatedAt = nowMillis();
  r.version = 1;
  r.owner = owner;
  return chooseSlug(txn, spec, owner, r);
}

std::string headerJson(const std::vector<std::pair<std::string, std::string>>& headers) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  for (const auto& [k, v] : headers)
    d.AddMember(rapidjson::Value(k.c_str(), a), rapidjson::Value(v.c_str(), a), a);
  return toJsonText(d);
}

}  // namespace

// ?atomic=true|false (default true); anything else is a 400.
static std::optional<ErrorObject> readAtomic(const QueryParams& query, bool& atomic) {
  const std::string* p = findParam(query, "atomic");
  atomic = !p || *p == "true";
  if (p && *p != "true" && *p != "false") return ErrorObject(Reason::invalid_parameter, "atomic must be true or false.");
  return std::nullopt;
}

void Service::changeEach(const CallPtr& call, std::shared_ptr<const rapidjson::Document> input,
                         std::shared_ptr<std::vector<BatchItem>> items, std::vector<std::string> ids, bool atomic,
                         bool structural, bool deleted, ItemChange change) {
  submit(call, [this, call, input, items, ids = std::move(ids), atomic, structural, deleted,
                change = std::move(change)](store::WriteTxn& txn, bool& keep) {
    for (size_t i = 0; i < items->size() && !structural; ++i) {
      BatchItem& it = (*items)[i];
      store::Record r;
      if (auto denied = loadForWrite(txn, *call, ids[i], r)) {
        it.error = std::move(*denied);
        continue;
      }
      if (auto e = change(txn, r, it)) {
        it.error = std::move(*e);
        continue;
      }
      it.record = std::move(r);
    }
    return batchReply(*call, *items, atomic || structural, 200, deleted, keep);
  });
}

std::optional<ErrorObject> Service::loadForWrite(store::WriteTxn& txn, const Call& call, const std::string& id,
                                                 store::Record& r) const {
  // By id only. A record you cannot see fails exactly like one that does not
  // exist (same reason, same message): nothing may tell them apart.
  if (auto e = txn.get(*call.collection, id, r); e || r.id != id) return missingRecord(e, call.request);
  return denyWrite(call, r);
}

std::optional<ErrorObject> Service::denyWrite(const Call& call, const store::Record& r) const {
  if (!canSee(call, r)) return ErrorObject(Reason::not_found);
  if (!canChange(call, r))
    return ErrorObject(Reason::forbidden, "Your role allows changing only the records you created.");
  return std::nullopt;
}

void Service::submit(const CallPtr& call, TxnWork work) {
  call->submitted = true;
  // Idempotency-Key on POST and PATCH: per user, 24 hours, same body required.
  std::string key;
  if ((call->request.method == "POST" || call->request.method == "PATCH") && call->request.hasHeader("Idempotency-Key"))
    key = std::string(call->request.header("Idempotency-Key"));
  if (key.size() > 255)
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_parameter,
                                                    "The Idempotency-Key header is longer than 255 characters.")));
  std::string userId = call->principal() ? call->principal()->userId : std::string();
  std::string requestHash =
      key.empty() ? std::string()
                  : auth::sha256Hex(std::string(call->request.method) + " " + std::string(call->request.target) + "\n" +
                                    std::string(call->request.body));
  auto out = std::make_shared<Response>();
  out->status = 0;  // 0 until the job answers: a job that threw answers nothing (500 below)
  // Without an Idempotency-Key nothing stores the rendered reply: the job
  // hands its Reply over and the I/O thread renders it (the writer thread is
  // the one thing all writes share).
  auto unrendered = std::make_shared<std::optional<Reply>>();
  store_.submitWrite(
      [this, call, work = std::move(work), key, userId, requestHash, out, unrendered](store::WriteTxn& txn) {
        if (!key.empty()) {
          store::StoredReply stored;
          store::Error e = txn.getStoredReply(userId, key, nowMillis() - 24 * 3600 * 1000LL, stored);
          if (!e) {
            if (stored.requestHash != requestHash) {
              *out = toWire(*call, Reply::failure(ErrorObject(
                                       Reason::idempotency_key_reused,
                                       "This Idempotency-Key was already used with a different request.")));
              return false;
            }
            out->status = stored.status;
            out->contentType = stored.contentType;
            out->body = stored.body;
            rapidjson::Document h;
            h.Parse(stored.headers.data(), stored.headers.size());
            if (h.IsObject())
              for (auto& m : h.GetObject()) out->addHeader(m.name.GetString(), m.value.GetString());
            out->addHeader("Idempotent-Replayed", "true");
            return false;
          }
          if (e.status != store::Status::notFound) {
            *out = toWire(*call, Reply::failure(storeError(e, call->request)));
            return false;
          }
        }
        bool keep = false;
        if (key.empty()) {
          *unrendered = work(txn, keep);
          return keep;
        }
        // With a key, the answer is kept whatever it is (SPEC §5): a retry of
        // a request that failed (an atomic batch's 422, a 409) replays that
        // failure instead of running again. Only the request's own writes
        // are undone; a storage failure (5xx) is not kept, so a retry runs.
        Reply reply;
        if (auto e = txn.nested([&] {
              reply = work(txn, keep);
              return keep;
            })) {
          *out = toWire(*call, Reply::failure(storeError(e, call->request)));
          return false;
        }
        *out = toWire(*call, std::move(reply));
        if (out->status >= 500) return false;
        store::StoredReply r{requestHash, out->status, out->contentType, headerJson(out->headers), out->body,
                             nowMillis()};
        if (auto e = txn.putStoredReply(userId, key, r)) {
          *out = toWire(*call, Reply::failure(storeError(e, call->request)));
          return false;
        }
        return true;
      },
      [this, call, out, unrendered](bool committed) {
        if (!committed) return finish(*call, Reply::failure(ErrorObject(Reason::storage_unavailable)));
        events_->wake();  // the change feed reads the log now, not at its next poll
        if (out->status == 0 && !unrendered->has_value()) {
          logInternalError(call->request.requestId, "the write job ended without a reply");
          return finish(*call, Reply::failure(ErrorObject(Reason::internal)));
        }
        if (unrendered->has_value()) {
          out->render = [this, call, unrendered](Response& res) {
            auto exchange = std::move(res.headers);  // deliver()'s, kept after the reply's own
            std::string exchangeLines = std::move(res.headerLines);
            uint16_t routeTag = res.routeTag;
            res = toWire(*call, std::move(**unrendered));
            res.routeTag = routeTag;
            res.headers.insert(res.headers.end(), std::make_move_iterator(exchange.begin()),
                               std::make_move_iterator(exchange.end()));
            res.headerLines = std::move(exchangeLines);
          };
        }
        deliver(*call, std::move(*out));
      });
}

// ------------------------------------------------------------------ create

std::optional<ErrorObject> Service::readCollectionWrite(const Call& call, bool& atomic,
                                                        std::shared_ptr<rapidjson::Document>& body) const {
  if (auto e = onlyParams(call.query, {"envelope", "access_token", "atomic"})) return e;
  if (auto e = readAtomic(call.query, atomic)) return e;
  body = std::make_shared<rapidjson::Document>();
  return readBody(call, *body);
}

void Service::createRecords(const CallPtr& call) {
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
      if (auto e = recordEvent(txn, *call, "created", *record)) return Reply::failure(storeError(e, call->request));
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
    auto fail = [&](BatchItem& it, const store::Error& e) {
      it.error = storeError(e, call->request);
      it.record.reset();
    };
    if (spec->slugFrom) {
      // One at a time: each slug must see the ones the batch took before it.
      for (auto& it : *items) {
        if (it.error || structural) continue;
        store::Error e = prepareNew(txn, *spec, owner, *it.record);
        if (!e) e = txn.insert(*spec, *it.record);
        if (!e) e = recordEvent(txn, *call, "created", *it.record);
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
      std::vector<store::Error> errors;
      txn.insertMany(*spec, records, errors);
      for (size_t i = 0; i < pending.size(); ++i) {
        if (!errors[i]) errors[i] = recordEvent(txn, *call, "created", *pending[i]->record);
        if (errors[i]) fail(*pending[i], errors[i]);
      }
    }
    return batchReply(*call, *items, atomic || structural, 201, false, keep);
  });
}

Reply Service::batchReply(const Call& call, std::vector<BatchItem>& items, bool atomic, int okStatus, bool deleted,
                          bool& keep) const {
  Reply reply;
  reply.kind = ReplyKind::batch;
  reply.action = deleted ? "deleted" : okStatus == 201 ? "created" : "updated";
  reply.collection = call.collection->name;
  reply.singular = call.collection->singular;
  render::BatchCounts counts;
  counts.receivedItemsCount = items.size();
  for (size_t i = 0; i < items.size(); ++i) (items[i].error ? counts.invalidItems : counts.validItems).push_back(i);
  for (size_t i : counts.invalidItems) {
    render::Failure f;
    f.index = i;
    f.rawData.CopyFrom(*items[i].raw, f.rawData.GetAllocator());
    f.errors = itemErrors(*items[i].error);
    reply.failures.push_back(std::move(f));
  }
  bool anyFailed = !counts.invalidItems.empty();
  if (anyFailed && (atomic || counts.validItems.empty())) {
    // Nothing is saved: the reply names what to fix.
    keep = false;
    reply.status = 422;
    reply.kind = ReplyKind::error;
    reply.error = ErrorObject(Reason::batch_invalid, std::to_string(counts.invalidItems.size()) + " of " +
                                                         std::to_string(items.size()) + " items are invalid");
    reply.batch = std::move(counts);
    return reply;
  }
  keep = true;
  reply.status = anyFailed ? 207 : okStatus;
  auto& a = reply.data.GetAllocator();
  reply.data.SetArray();
  for (size_t i : counts.validItems) {
    rapidjson::Value v;
    if (deleted) {
      v.SetObject();
      v.AddMember("id", rapidjson::Value(items[i].record->id.c_str(), a), a);
      v.AddMember("deleted", true, a);
    } else {
      recordToJson(*call.collection, *items[i].record, nullptr, v, a);
    }
    reply.data.PushBack(v, a);
  }
  reply.dateFields = &call.rules->dateFields;
  reply.batch = std::move(counts);
  return reply;
}

// ------------------------------------------------------------------ one record

std::optional<ErrorObject> Service::checkWritable(const Call& call) const {
  store::Record current;
  if (auto e = store_.get(*call.collection, call.match.id, current); e || current.id != call.match.id)
    return missingRecord(e, call.request);
  return denyWrite(call, current);
}

void Service::replaceRecord(const CallPtr& call) { patchOrReplace(call, WriteMode::replace); }
void Service::patchRecord(const CallPtr& call) { patchOrReplace(call, WriteMode::patch); }

void Service::patchOrReplace(const CallPtr& call, WriteMode mode) {
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
  submit(call, [=, this](store::WriteTxn& txn, bool& keep) {
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
    if (auto e = recordEvent(txn, *call, "updated", r)) return Reply::failure(storeError(e, call->request));
    keep = true;
    return recordReply(*call, r, 200, ReplyKind::updated);
  });
}

void Service::deleteRecord(const CallPtr& call) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token"})) return finish(*call, Reply::failure(*e));
  if (auto e = checkWritable(*call)) return finish(*call, Reply::failure(*e));
  bool hasIfMatch = call->request.hasHeader("If-Match");
  std::string ifMatch(call->request.header("If-Match"));
  submit(call, [=, this](store::WriteTxn& txn, bool& keep) {
    const CollectionSpec& spec = *call->collection;
    const std::string& id = call->match.id;
    store::Record r;
    if (auto denied = loadForWrite(txn, *call, id, r)) return Reply::failure(*denied);
    if (hasIfMatch && !ifMatchAccepts(ifMatch, versionTag(r)))
      return Reply::failure(ErrorObject(Reason::precondition_failed));
    if (auto e = txn.remove(spec, id)) return Reply::failure(storeError(e, call->request));
    if (auto e = recordEvent(txn, *call, "deleted", r)) return Reply::failure(storeError(e, call->request));
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

// ------------------------------------------------------------------ batches

namespace {

// Ids of a PATCH or DELETE batch must be unique within it: a repeat is refused with the whole batch.
void markRepeatedIds(std::vector<BatchItem>& items, const std::vector<std::string>& ids, bool& structural) {
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (!ids[i].empty() && ids[i] == ids[j]) {
        items[i].error = ErrorObject(Reason::unique_violation, "The id " + ids[i] +
                                                                    " appears more than once in this batch.")
                             .withField("id");
        structural = true;
        break;
      }
}

// Splits a PATCH or DELETE batch into items. `idOf` returns an item's id, or
// nullopt when the item is malformed (its message in `why`), which refuses
// the whole batch; so does an id repeated within it.
using IdOf = std::function<std::optional<std::string>(const rapidjson::Value& item, size_t index, std::string& why)>;
std::shared_ptr<std::vector<BatchItem>> splitBatch(const rapidjson::Value& list, const IdOf& idOf,
                                                   std::vector<std::string>& ids, bool& structural) {
  auto items = std::make_shared<std::vector<BatchItem>>(list.Size());
  ids.assign(list.Size(), std::string());
  structural = false;
  for (size_t i = 0; i < items->size(); ++i) {
    BatchItem& it = (*items)[i];
    it.raw = &list[static_cast<rapidjson::SizeType>(i)];
    std::string why;
    if (auto id = idOf(*it.raw, i, why)) {
      ids[i] = std::move(*id);
    } else {
      it.error = ErrorObject(Reason::invalid_json, why);
      structural = true;
    }
  }
  markRepeatedIds(*items, ids, structural);
  return items;
}

}  // namespace

std::optional<ErrorObject> Service::batchSize(size_t n) const {
  if (n == 0) return ErrorObject(Reason::empty_batch);
  if (n > config_.server.maxBatchItems)
    return ErrorObject(Reason::payload_too_large, "The batch has " + std::to_string(n) + " items; at most " +
                                                      std::to_string(config_.server.maxBatchItems) + " are allowed.");
  return std::nullopt;
}

void Service::patchRecords(const CallPtr& call) {
  bool atomic = true;
  std::shared_ptr<rapidjson::Document> input;
  if (auto e = readCollectionWrite(*call, atomic, input)) return finish(*call, Reply::failure(*e));
  rapidjson::Document& body = *input;
  if (!body.IsArray())
    return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json,
                                                    "PATCH on a collection takes an array of objects, each with its "
                                                    "\"id\".")));
  if (auto e = batchSize(body.Size())) return finish(*call, Reply::failure(*e));
  std::vector<std::string> ids;
  bool structural = false;
  auto items = splitBatch(
      body,
      [](const rapidjson::Value& item, size_t i, std::string& why) -> std::optional<std::string> {
        auto id = item.IsObject() ? item.FindMember("id") : item.MemberEnd();
        if (!item.IsObject() || id == item.MemberEnd() || !id->value.IsString()) {
          why = "Item " + std::to_string(i) + " must be an object with an \"id\".";
          return std::nullopt;
        }
        return std::string(id->value.GetString(), id->value.GetStringLength());
      },
      ids, structural);
  changeEach(call, input, items, std::move(ids), atomic, structural, false,
             [this, call](store::WriteTxn& txn, store::Record& r, const BatchItem& it) -> std::optional<ErrorObject> {
               rapidjson::Document patch;
               patch.CopyFrom(*it.raw, patch.GetAllocator());
               patch.RemoveMember("id");
               rapidjson::Document merged;
               if (auto e = buildValues(*call->rules, patch, WriteMode::patch, &r.values, merged)) return e;
               r.values.Swap(merged);
               r.updatedAt = std::max(nowMillis(), r.createdAt);
               r.version += 1;
               if (auto e = txn.update(*call->collection, r)) return storeError(e, call->request);
               if (auto e = recordEvent(txn, *call, "updated", r)) return storeError(e, call->request);
               return std::nullopt;
             });
}

void Service::deleteRecords(const CallPtr& call) {
  if (auto e = onlyParams(call->query, {"envelope", "access_token", "atomic", "ids"}))
    return finish(*call, Reply::failure(*e));
  bool atomic = true;
  if (auto e = readAtomic(call->query, atomic)) return finish(*call, Reply::failure(*e));
  // The ids: ?ids=a,b,c or a JSON array body.
  auto input = std::make_shared<rapidjson::Document>(rapidjson::kArrayType);
  rapidjson::Document& list = *input;
  if (const std::string* q = findParam(call->query, "ids")) {
    std::string_view rest = *q;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view id = rest.substr(0, comma);
      list.PushBack(rapidjson::Value(id.data(), static_cast<rapidjson::SizeType>(id.size()), list.GetAllocator()),
                    list.GetAllocator());
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  } else if (!call->request.body.empty()) {
    if (auto e = readBody(*call, list)) return finish(*call, Reply::failure(*e));
    if (!list.IsArray())
      return finish(*call, Reply::failure(ErrorObject(Reason::invalid_json,
                                                      "DELETE on a collection takes an array of ids, or ?ids=a,b,c.")));
  }
  if (auto e = batchSize(list.Size())) return finish(*call, Reply::failure(*e));
  std::vector<std::string> ids;
  bool structural = false;
  auto items = splitBatch(
      list,
      [](const rapidjson::Value& item, size_t i, std::string& why) -> std::optional<std::string> {
        if (!item.IsString() || item.GetStringLength() == 0) {
          why = "Item " + std::to_string(i) + " must be a record id (a string).";
          return std::nullopt;
        }
        return std::string(item.GetString(), item.GetStringLength());
      },
      ids, structural);
  changeEach(call, input, items, std::move(ids), atomic, structural, true,
             [this, call](store::WriteTxn& txn, store::Record& r, const BatchItem&) -> std::optional<ErrorObject> {
               if (auto e = txn.remove(*call->collection, r.id)) return storeError(e, call->request);
               if (auto e = recordEvent(txn, *call, "deleted", r)) return storeError(e, call->request);
               return std::nullopt;
             });
}

}  // namespace restd::api
