// `result-metadata` (seed 004): a `result` of "success", "failure" or "error".
//   success: GET of one record: the record under the singular ("thing");
//            otherwise the processed records under the collection's name (a
//            list even for one record written; a delete lists {"id": …}), and `metadata`
//            (page, pagesCount, recordsPerPage, recordsCount for lists;
//            receivedItemsCount, validItems, invalidItems for writes).
//   failure: some or all items failed: `failures` (index, rawData, errors),
//            the records that were saved (207) and `metadata`.
//   error:   {"result": "error", "error": {error object}}.
#include "render/layout.h"

namespace restd::render {
namespace {

class ResultMetadataProfile final : public Profile {
 public:
  std::string_view name() const override { return "result-metadata"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = writerFor(ctx);
    RecordStyle style;
    bool failure = !r.failures.empty();
    w->startObject();
    w->key("result");
    w->string(failure ? "failure" : r.error ? "error" : "success");
    if (r.error && !failure) {
      w->key("error");
      writeErrorObject(*w, *r.error, ctx.docsUrl);
      w->endObject();
      out.body = w->finish();
      out.contentType = contentTypeFor(ctx);
      return;
    }
    bool isGet = ctx.method == "GET" || ctx.method == "HEAD";
    if (r.kind == ReplyKind::record && !r.error) {
      w->key(recordKey(r));
      writeRecord(*w, r, r.data, style);
    } else if (holdsRecords(r)) {
      if (!r.error) {
        w->key(recordsKey(r));
        w->startArray(recordKey(r));
        auto one = [&](const rapidjson::Value& rec) {
          if (r.kind == ReplyKind::deleted || (r.kind == ReplyKind::batch && r.action == "deleted")) {
            w->startObject();
            w->key("id");
            w->value(memberOrNull(rec, "id"));
            w->endObject();
          } else {
            writeRecord(*w, r, rec, style);
          }
        };
        if (r.data.IsArray())
          for (auto& e : r.data.GetArray()) one(e);
        else
          one(r.data);
        w->endArray();
      }
    } else if (r.data.IsObject()) {
      for (auto& m : r.data.GetObject()) {
        std::string_view k(m.name.GetString(), m.name.GetStringLength());
        w->key(k);
        w->memberValue(k, m.value);
      }
    }
    if (failure) writeFailures(*w, r, ctx.docsUrl, style);
    w->key("metadata");
    w->startObject();
    if (r.pagination) writePaginationMembers(*w, *r.pagination);
    if (r.batch) {
      writeBatchCounts(*w, *r.batch);
    } else if (holdsRecords(r) && !isGet) {
      // One record written is a batch of one.
      BatchCounts one;
      one.receivedItemsCount = 1;
      one.validItems = {0};
      writeBatchCounts(*w, one);
    }
    w->endObject();
    w->endObject();
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& resultMetadataProfile() {
  static const ResultMetadataProfile profile;
  return profile;
}

}  // namespace restd::render
