// `standard`: restd's own envelope (SPEC §6).
//   success: {"data": …, "pagination": {…}?, "failures": […]?, "meta": {…}}
//   error:   {"error": {error object}, "failures": […]?, "meta": {…}}
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
        w->key("pagination");
        w->startObject();
        writePaginationMembers(*w, *r.pagination);
        w->endObject();
      }
    }
    if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
    w->key("meta");
    w->startObject();
    writeMetaMembers(*w, r, ctx);
    w->endObject();
    w->endObject();
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

std::string renderStandardRecord(const rapidjson::Value& record) {
  static const Reply plain;  // standard keeps dates and ids as they are: nothing of the reply is read
  auto w = makeJsonWriter();
  writeRecord(*w, plain, record, RecordStyle{});
  return w->finish();
}

const Profile& standardProfile() {
  static const StandardProfile profile;
  return profile;
}

}  // namespace restd::render
