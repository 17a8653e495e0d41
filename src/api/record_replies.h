// How a record becomes a reply, how a request's body becomes a record's
// JSON, and how a store failure becomes an API error: pure functions of the
// call, shared by the reads (record_reads.h) and the writes. Private to api/.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <vector>

#include "api/service.h"
#include "common/error.h"
#include "common/status.h"
#include "render/reply.h"
#include "store/store.h"

namespace restd::api {

// The one place a store Status becomes an API error (5xx details go to the
// error log under the request id, never to the client).
ErrorObject storeError(const Status& e, const Request& request);
// A write's lookup of the record it names failed (`e`) or found another
// (a slug, no error): 404, unless the store itself failed (then its 500/502).
ErrorObject missingRecord(const Status& e, const Request& request);

// A record's reply: its JSON, ETag, Last-Modified, names and date keys.
// recordReply() copies `r` (a write's record outlives a retried group);
// takeRecordReply() moves r's values and their pool into the reply, the
// cheaper way for a read's record, which dies with the request.
render::Reply recordReply(const Service::Call& call, const store::Record& r, int status, render::ReplyKind kind);
render::Reply takeRecordReply(const Service::Call& call, store::Record& r, const std::vector<std::string>& fields);
void describeRecord(const Service::Call& call, const store::Record& r, int status, render::ReplyKind kind,
                    render::Reply& reply);

// A record's JSON (fields: only these keys; null or empty: all) into
// `out`: r's values are moved when they live in `a` (the reply took their
// pool), copied otherwise.
void takeValues(const CollectionSpec& c, store::Record& r, const std::vector<std::string>* fields,
                rapidjson::Value& out, rapidjson::Document::AllocatorType& a);

// Parses the request body (JSON, a form, or on PATCH a merge patch) into
// `out`, or returns the 415/400 error.
[[nodiscard]] std::optional<ErrorObject> readBody(const Service::Call& call, rapidjson::Document& out);

}  // namespace restd::api
