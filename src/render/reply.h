// The abstract reply (SPEC §6): what a handler says, before any envelope.
//
// Handlers fill a Reply; a Profile lays it out on the wire as JSON or XML.
// Handlers never produce wire bytes themselves. A Reply owns its data.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace restd::render {

// What kind of answer this is; profiles lay out kinds differently.
enum class ReplyKind {
  record,        // one record (GET one)
  list,          // records with pagination (GET collection)
  created,       // one record created (POST object)
  updated,       // one record replaced or patched
  deleted,       // one record deleted; `message` holds the delete sentence
  batch,         // batch write: data array + failures + item counts
  authenticate,  // access token issued
  me,            // who am I
  resource,      // any other JSON resource (index, health, openapi)
  error,         // `error` is set
  empty,         // no body (204, 304)
  document,      // a finished body of its own type (HTML, text) passed through as is
};

struct Pagination {
  std::optional<int64_t> page = 1;      // absent in cursor mode
  int64_t perPage = 20;
  std::optional<int64_t> recordsCount;  // absent with count=false
  std::optional<int64_t> pagesCount;
  std::optional<std::string> nextCursor;
};

struct Failure {
  size_t index = 0;
  rapidjson::Document rawData;
  std::vector<ErrorObject> errors;
};

struct BatchCounts {
  size_t receivedItemsCount = 0;
  std::vector<size_t> validItems;
  std::vector<size_t> invalidItems;
};

struct Reply {
  int status = 200;
  ReplyKind kind = ReplyKind::resource;
  // The pool behind `data` when that holds a record taken from the store
  // (Reply(pool)); declared first, so it is made before and destroyed after
  // `data`. Null otherwise: then `data` owns an allocator of its own.
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> pool;
  rapidjson::Document data;                 // the payload; null when none
  std::optional<Pagination> pagination;
  std::optional<std::string> message;       // e.g. "Your thing (id: …) was deleted"
  std::optional<ErrorObject> error;
  std::vector<Failure> failures;
  std::optional<BatchCounts> batch;
  std::vector<std::pair<std::string, std::string>> headers;  // Allow, ETag, Link, Retry-After, …
  // Views of the configuration, which outlives every reply.
  std::string_view collection;              // collection name, for naming records ("things")
  std::string_view singular;                // its singular ("thing")
  // Record keys holding dates (profiles may re-lay them out); a list that
  // outlives the reply (the collection's, or a constant), or none.
  const std::vector<std::string>* dateFields = nullptr;
  std::string action;                       // batch: "created", "updated" or "deleted"
  std::string documentBody;                 // kind == document
  std::string documentType;                 // kind == document: Content-Type
  bool conditional = false;                 // GET 200 with validators: see api::Response::conditional

  Reply() { data.SetNull(); }
  explicit Reply(std::unique_ptr<rapidjson::MemoryPoolAllocator<>> p)
      : pool(std::move(p)), data(rapidjson::kNullType, pool.get()) {}
  static Reply failure(ErrorObject e) {
    Reply r;
    r.status = e.status();
    r.kind = ReplyKind::error;
    r.error = std::move(e);
    return r;
  }
  static Reply document(int status, std::string contentType, std::string body) {
    Reply r;
    r.status = status;
    r.kind = ReplyKind::document;
    r.documentType = std::move(contentType);
    r.documentBody = std::move(body);
    return r;
  }
  Reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace restd::render
