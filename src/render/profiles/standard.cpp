// `standard`: restd's own envelope (SPEC §6).
//   success: {"data": …, "pagination": {…}?, "failures": […]?, "meta": {…}}
//   error:   {"error": {error object}, "failures": […]?, "meta": {…}}
#include "common/time.h"
#include "render/layout.h"

namespace restd::render {
namespace {

class StandardProfile final : public Profile {
 public:
  std::string_view name() const override { return "standard"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = writerFor(ctx);
    RecordStyle style;
    w->startObject();
    if (r.error) {
      w->key("error");
      writeErrorObject(*w, *r.error, ctx.docsUrl);
    } else {
      w->key("data");
      writeData(*w, r, style);
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
    if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
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
    if (r.batch) writeBatchCounts(*w, *r.batch);
    w->endObject();
    w->endObject();
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& standardProfile() {
  static const StandardProfile profile;
  return profile;
}

}  // namespace restd::render
