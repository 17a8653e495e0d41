// `data-meta` (seed 003):
//   {"data": …, "meta": {"code": 200, …}, "pagination": {"total": 93, "page": 2, "perPage": 20, "pagesCount": 5}}
// (pagination on lists only). Record ids are rendered as "idx".
// Errors: {"error": true, "message": MESSAGE, "meta": {"code": 422, …}}.
#include "render/layout.h"

namespace restd::render {
namespace {

class DataMetaProfile final : public Profile {
 public:
  std::string_view name() const override { return "data-meta"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = writerFor(ctx);
    RecordStyle style{nullptr, "idx"};
    w->startObject();
    if (r.error) {
      w->key("error");
      w->boolean(true);
      w->key("message");
      w->string(r.error->message);
    } else {
      w->key("data");
      writeData(*w, r, style);
    }
    w->key("meta");
    w->startObject();
    w->key("code");
    w->integer(r.status);
    if (r.error) {
      w->key("reason");
      w->string(r.error->reasonName());
      if (r.error->field) {
        w->key("field");
        w->string(*r.error->field);
      }
    }
    writeMetaMembers(*w, r, ctx);
    w->endObject();
    if (r.pagination && !r.error) {
      const Pagination& p = *r.pagination;
      w->key("pagination");
      w->startObject();
      if (p.recordsCount) { w->key("total"); w->integer(*p.recordsCount); }
      if (p.page) { w->key("page"); w->integer(*p.page); }
      w->key("perPage"); w->integer(p.perPage);
      if (p.pagesCount) { w->key("pagesCount"); w->integer(*p.pagesCount); }
      if (p.nextCursor) { w->key("nextCursor"); w->string(*p.nextCursor); }
      w->endObject();
    }
    if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
    w->endObject();
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& dataMetaProfile() {
  static const DataMetaProfile profile;
  return profile;
}

}  // namespace restd::render
