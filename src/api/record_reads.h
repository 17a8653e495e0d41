// Reads of records as a handler unit: GET of one record and lists, given
// only the store. Each returns the Reply; the Service sends it. Thread-safe:
// called from every I/O thread (and the store's pool).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/service.h"
#include "common/error.h"
#include "render/reply.h"
#include "store/store.h"

namespace restd::api {

class RecordReads {
 public:
  explicit RecordReads(store::Store& store) : store_(store) {}

  render::Reply list(const Service::Call& call) const;
  render::Reply get(const Service::Call& call) const;
  // get()'s two halves around the store's read, for a read that is
  // pipelined (Store::getAsync): ?fields, and the reply once it is read.
  // found() gives r's values up to the reply (takeRecordReply).
  [[nodiscard]] std::optional<ErrorObject> fields(const Service::Call& call, std::vector<std::string>& fields) const;
  render::Reply found(const Service::Call& call, const Status& e, store::Record& r,
                      const std::vector<std::string>& fields) const;
  // Whose slugs the caller's reads may name (views into `call`).
  static store::SlugScope slugScope(const Service::Call& call);

 private:
  store::Store& store_;
};

}  // namespace restd::api
