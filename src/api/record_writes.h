// Writes of records as a handler unit (SPEC §3-§5): create, replace, patch
// and delete, one record or a batch. Given the config, the store, the reply
// writer and the change feed's hub (woken after each commit), nothing else.
//
// Bodies are parsed and, where possible, validated where the handler runs;
// the rest runs as one job in the store's shared transaction (submit()),
// which also adds the change feed's events. A reply for an Idempotency-Key
// is rendered inside that job and kept with the write (idempotency.h); any
// other reply is handed back and rendered on the connection's thread after
// the commit. Thread-safe: one per Service, called from every I/O thread
// and the store's pool; jobs run on the store's writer.
#pragma once

#include <rapidjson/document.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/event_hub.h"
#include "api/service.h"
#include "api/validation.h"
#include "common/error.h"
#include "config/config.h"
#include "render/reply.h"
#include "store/store.h"

namespace restd::api {

struct BatchItem;  // call.h
class ReplyWriter;

class RecordWrites {
 public:
  // Each must outlive this.
  RecordWrites(const Config& config, store::Store& store, const ReplyWriter& replies, EventHub& events)
      : config_(config), store_(store), replies_(replies), events_(events) {}

  void create(const Service::CallPtr& call);          // POST /{collection}: one record or a batch
  void replace(const Service::CallPtr& call);         // PUT /{collection}/{id}
  void patch(const Service::CallPtr& call);           // PATCH /{collection}/{id}
  void remove(const Service::CallPtr& call);          // DELETE /{collection}/{id}
  void patchMany(const Service::CallPtr& call);       // PATCH /{collection}: a batch
  void removeMany(const Service::CallPtr& call);      // DELETE /{collection}: a batch

  // Answers `call`. An idempotent call's answer found before its write job
  // (a 422 from the body, an envelope 400) is kept for retries as well: it
  // goes through submit(). Every other answer goes out at once.
  void finish(const Service::Call& call, render::Reply reply) const;

 private:
  using TxnWork = std::function<render::Reply(store::WriteTxn& txn, bool& keep)>;
  // Queues `work` as the call's write job, behind its Idempotency-Key when
  // it has one (IdempotentWrite); answers once the job's group committed.
  void submit(const Service::CallPtr& call, TxnWork work) const;
  // The write job's group ended: send `out`, or render the handed-over
  // reply on the connection's thread (Response::render).
  void writeDone(const Service::CallPtr& call, bool committed, Response& out,
                 std::optional<render::Reply>& unrendered) const;
  void patchOrReplace(const Service::CallPtr& call, WriteMode mode) const;

  // Before a single-record write reads its body: the record exists, is
  // visible and may be changed (404/403 win over body errors). By id only;
  // the job checks again inside the transaction.
  [[nodiscard]] std::optional<ErrorObject> checkWritable(const Service::Call& call) const;
  // The start of POST and PATCH on a collection: only the parameters they
  // take, ?atomic, and the parsed body (shared: batch items point into it).
  [[nodiscard]] std::optional<ErrorObject> readCollectionWrite(const Service::Call& call, bool& atomic,
                                                               std::shared_ptr<rapidjson::Document>& body) const;
  [[nodiscard]] std::optional<ErrorObject> batchSize(size_t n) const;
  render::Reply batchReply(const Service::Call& call, std::vector<BatchItem>& items, bool atomic, int okStatus,
                           bool deleted, bool& keep) const;
  // PATCH and DELETE batches: loads each item's record (404/403 as item
  // failures), applies `change` to it, and replies in batch form. `input`
  // owns the values the items' `raw` point into.
  using ItemChange =
      std::function<std::optional<ErrorObject>(store::WriteTxn& txn, store::Record& r, const BatchItem& item)>;
  void changeEach(const Service::CallPtr& call, std::shared_ptr<const rapidjson::Document> input,
                  std::shared_ptr<std::vector<BatchItem>> items, std::vector<std::string> ids, bool atomic,
                  bool structural, bool deleted, ItemChange change) const;

  // The record a write (single or batch) is about, loaded in the
  // transaction: nullopt, or its not_found/forbidden error (SPEC: 404 when
  // invisible).
  [[nodiscard]] static std::optional<ErrorObject> loadForWrite(store::WriteTxn& txn, const Service::Call& call,
                                                               const std::string& id, store::Record& r);
  [[nodiscard]] static std::optional<ErrorObject> denyWrite(const Service::Call& call, const store::Record& r);
  // Adds the change feed's event for a change to `r` to the log, in the
  // write's transaction (kind: created, updated, deleted).
  static Status logChange(store::WriteTxn& txn, const Service::Call& call, std::string_view kind,
                          const store::Record& r);

  const Config& config_;
  store::Store& store_;
  const ReplyWriter& replies_;
  EventHub& events_;
};

}  // namespace restd::api
