// Pieces every profile lays out the same way, with the profile's own date
// layout and id key. Private to render/.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "render/profile.h"
#include "render/tree_writer.h"

namespace restd::render {

// Re-lays an RFC 3339 date (as records carry them) in a profile's layout.
using DateLayout = std::function<std::string(int64_t unixMillis)>;
std::string rfc3339Layout(int64_t ms);      // 2026-11-24T10:00:00+00:00 (the records' own)
std::string compactOffsetLayout(int64_t ms);  // 2026-11-24T10:00:00+0000 (success-flag)
std::string rfc2822Layout(int64_t ms);      // Tue, 24 Nov 2026 10:00:00 +0000 (request-result)

struct RecordStyle {
  const DateLayout* dates = nullptr;  // nullptr: keep RFC 3339 as is
  std::string_view idKey = "id";      // data-meta renders it as "idx"
};

// One record (an object): its date fields re-laid out, its id key renamed.
void writeRecord(TreeWriter& w, const Reply& r, const rapidjson::Value& record, const RecordStyle& style);
// The reply's data: a record, an array of records, or other data written as is.
void writeData(TreeWriter& w, const Reply& r, const RecordStyle& style);
// Is this reply's data made of records (so ids and dates get the profile's style)?
bool holdsRecords(const Reply& r);
// `v[key]`, or null when `v` is not an object or has no such member: a
// profile never trusts the payload's shape (RapidJSON's operator[] asserts).
const rapidjson::Value& memberOrNull(const rapidjson::Value& v, const char* key);

void writeFailures(TreeWriter& w, const Reply& r, std::string_view docsUrl, const RecordStyle& style);
void writeBatchCounts(TreeWriter& w, const BatchCounts& c);
// The members (not the braces) of restd's pagination object: page, pagesCount,
// recordsPerPage, recordsCount, nextCursor — as far as each is known.
void writePaginationMembers(TreeWriter& w, const Pagination& p);
// The members of a `meta` object every restd-style envelope shares:
// requestId, date, the reply's message and batch counts.
void writeMetaMembers(TreeWriter& w, const Reply& r, const RenderContext& ctx);
std::string_view recordsKey(const Reply& r);   // the collection's name ("things")
std::string_view recordKey(const Reply& r);    // its singular ("thing")

TreeWriterPtr writerFor(const RenderContext& ctx, std::string_view xmlRoot = "response",
                                      std::string_view xmlns = "");
std::string_view contentTypeFor(const RenderContext& ctx);

}  // namespace restd::render
