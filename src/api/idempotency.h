// The Idempotency-Key of a write (SPEC §5): per user, for 24 hours, for the
// same request only. The reply given under a key is rendered inside the
// write's transaction and stored with the write it describes, so a retry
// replays it and can never write twice. Private to api/; one per request,
// used on the store's writer thread once made.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "api/handler.h"
#include "common/error.h"
#include "render/reply.h"
#include "store/store.h"

namespace restd::api {

class IdempotentWrite {
 public:
  // The key of a POST or PATCH that sends a non-empty one, else nullopt. A key longer
  // than 255 characters is refused (tooLong()) before any write.
  static std::optional<IdempotentWrite> of(const Request& request, std::string userId);
  bool tooLong() const { return key_.size() > 255; }

  using Work = std::function<render::Reply(store::WriteTxn& txn, bool& keep)>;
  using Render = std::function<Response(render::Reply)>;
  using StoreError = std::function<ErrorObject(const Status&)>;
  // Runs `work` as the request's write in `txn`, or replays the reply kept
  // for the key (Idempotent-Replayed: true), or refuses a key used with
  // another request. `out` receives the rendered reply. Returns whether the
  // transaction keeps the job's changes. Whatever the work answers is kept
  // (an atomic batch's 422, a 409): a retry replays that failure instead of
  // running again. Only the request's own writes are undone when it fails;
  // a storage failure (5xx) is not kept, so a retry runs.
  // A store failure is answered as storeError() says, logged under
  // `request`'s id.
  bool run(store::WriteTxn& txn, const Work& work, const Render& render, const Request& request,
           Response& out) const;

 private:
  IdempotentWrite(std::string key, std::string userId, std::string requestHash)
      : key_(std::move(key)), userId_(std::move(userId)), requestHash_(std::move(requestHash)) {}
  // The kept reply as it was sent, marked as replayed.
  static void replay(const store::StoredReply& stored, Response& out);

  std::string key_;
  std::string userId_;
  std::string requestHash_;  // SHA-256 of method, target and body
};

}  // namespace restd::api
