// Batch writes of RecordWrites (SPEC §4 "Batches"): POST of an array is in
// record_writes.cpp with the single POST; here PATCH and DELETE of many
// records, and the batch reply with its per-item failures.
#include <rapidjson/document.h>

#include "api/call.h"
#include "api/record_helpers.h"
#include "api/record_replies.h"
#include "api/record_writes.h"

namespace restd::api {

using render::Reply;
using render::ReplyKind;

namespace {

// The errors of a failed batch item: one per field when validation found several.
std::vector<ErrorObject> itemErrors(const ErrorObject& e) {
  if (e.details.empty()) return {e};
  return e.details;
}

}  // namespace

void RecordWrites::changeEach(const Service::CallPtr& call, std::shared_ptr<const rapidjson::Document> input,
                              std::shared_ptr<std::vector<BatchItem>> items, std::vector<std::string> ids,
                              bool atomic, bool structural, bool deleted, ItemChange change) const {
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

Reply RecordWrites::batchReply(const Service::Call& call, std::vector<BatchItem>& items, bool atomic, int okStatus,
                               bool deleted, bool& keep) const {
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

std::optional<ErrorObject> RecordWrites::batchSize(size_t n) const {
  if (n == 0) return ErrorObject(Reason::empty_batch);
  if (n > config_.server.maxBatchItems)
    return ErrorObject(Reason::payload_too_large, "The batch has " + std::to_string(n) + " items; at most " +
                                                      std::to_string(config_.server.maxBatchItems) + " are allowed.");
  return std::nullopt;
}

void RecordWrites::patchMany(const Service::CallPtr& call) {
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
             [call](store::WriteTxn& txn, store::Record& r, const BatchItem& it) -> std::optional<ErrorObject> {
               rapidjson::Document patch;
               patch.CopyFrom(*it.raw, patch.GetAllocator());
               patch.RemoveMember("id");
               rapidjson::Document merged;
               if (auto e = buildValues(*call->rules, patch, WriteMode::patch, &r.values, merged)) return e;
               r.values.Swap(merged);
               r.updatedAt = std::max(nowMillis(), r.createdAt);
               r.version += 1;
               if (auto e = txn.update(*call->collection, r)) return storeError(e, call->request);
               if (auto e = logChange(txn, *call, "updated", r)) return storeError(e, call->request);
               return std::nullopt;
             });
}

void RecordWrites::removeMany(const Service::CallPtr& call) {
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
             [call](store::WriteTxn& txn, store::Record& r, const BatchItem&) -> std::optional<ErrorObject> {
               if (auto e = txn.remove(*call->collection, r.id)) return storeError(e, call->request);
               if (auto e = logChange(txn, *call, "deleted", r)) return storeError(e, call->request);
               return std::nullopt;
             });
}

}  // namespace restd::api
