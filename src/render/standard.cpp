// The `standard` profile: restd's own envelope (SPEC §6).
//   success: {"data": …, "pagination": {…}?, "failures": […]?, "meta": {…}}
//   error:   {"error": {error object}, "failures": […]?, "meta": {…}}
#include "common/time.h"
#include "render/profile.h"
#include "render/tree_writer.h"

namespace restd::render {
namespace {

void writeFailures(TreeWriter& w, const Reply& r, std::string_view docsUrl) {
  w.key("failures");
  w.startArray("failure");
  for (const auto& f : r.failures) {
    w.startObject();
    w.key("index");
    w.integer(static_cast<int64_t>(f.index));
    w.key("rawData");
    w.value(f.rawData);
    w.key("errors");
    w.startArray("error");
    for (const auto& e : f.errors) writeErrorObject(w, e, docsUrl);
    w.endArray();
    w.endObject();
  }
  w.endArray();
}

void writeIndexList(TreeWriter& w, std::string_view key, const std::vector<size_t>& items) {
  w.key(key);
  w.startArray("item");
  for (size_t i : items) w.integer(static_cast<int64_t>(i));
  w.endArray();
}

class StandardProfile final : public Profile {
 public:
  std::string_view name() const override { return "standard"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = ctx.format == Format::xml ? makeXmlWriter("response", "") : makeJsonWriter();
    w->startObject();
    if (r.error) {
      w->key("error");
      writeErrorObject(*w, *r.error, ctx.docsUrl);
    } else {
      w->key("data");
      // A list of records is named by the collection's singular in XML.
      w->value(r.data, r.singular.empty() ? std::string_view("item") : std::string_view(r.singular));
      if (r.pagination) {
        const Pagination& p = *r.pagination;
        w->key("pagination");
        w->startObject();
        if (p.page) { w->key("page"); w->integer(*p.page); }
        if (p.pagesCount) { w->key("pagesCount"); w->integer(*p.pagesCount); }
        w->key("recordsPerPage"); w->integer(p.perPage);
        if (p.recordsCount) { w->key("recordsCount"); w->integer(*p.recordsCount); }
        if (p.nextCursor) { w->key("nextCursor"); w->string(*p.nextCursor); }
        w->endObject();
      }
    }
    if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl);
    w->key("meta");
    w->startObject();
    w->key("requestId");
    w->string(ctx.requestId);
    w->key("date");
    w->string(formatRfc3339(ctx.now));
    if (r.message) {
      w->key("message");
      w->string(*r.message);
    }
    if (r.batch) {
      w->key("receivedItemsCount");
      w->integer(static_cast<int64_t>(r.batch->receivedItemsCount));
      writeIndexList(*w, "validItems", r.batch->validItems);
      writeIndexList(*w, "invalidItems", r.batch->invalidItems);
    }
    w->endObject();
    w->endObject();
    out.body = w->finish();
    out.contentType = ctx.format == Format::xml ? "application/xml; charset=utf-8" : "application/json; charset=utf-8";
  }
};

}  // namespace

const Profile& standardProfile() {
  static const StandardProfile profile;
  return profile;
}

}  // namespace restd::render
