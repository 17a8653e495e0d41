// `plain` (seed 002): the bare record or bare array; POST 201 returns the
// created record; DELETE returns {"code": 200, "message": "Your thing (id: …) was deleted"}.
// Errors: {"code": 401, "message": MESSAGE} (+ "failures" for batches). A 207
// batch is {"code": 207, "message": "N of M items are invalid", "data": […], "failures": […]}.
#include "render/layout.h"

namespace restd::render {
namespace {

class PlainProfile final : public Profile {
 public:
  std::string_view name() const override { return "plain"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = writerFor(ctx);
    RecordStyle style;
    auto codeAndMessage = [&](int code, std::string_view message) {
      w->key("code");
      w->integer(code);
      w->key("message");
      w->string(message);
    };
    if (r.error) {
      w->startObject();
      codeAndMessage(r.status, r.error->message);
      if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
      if (r.batch) writeBatchCounts(*w, *r.batch);
      w->endObject();
    } else if (r.kind == ReplyKind::deleted) {
      w->startObject();
      codeAndMessage(r.status, r.message.value_or("deleted"));
      w->endObject();
    } else if (r.kind == ReplyKind::batch && !r.failures.empty()) {
      w->startObject();
      size_t bad = r.failures.size(), all = r.batch ? r.batch->receivedItemsCount : bad;
      codeAndMessage(r.status, std::to_string(bad) + " of " + std::to_string(all) + " items are invalid");
      w->key("data");
      writeData(*w, r, style);
      writeFailures(*w, r, ctx.docsUrl, style);
      if (r.batch) writeBatchCounts(*w, *r.batch);
      w->endObject();
    } else {
      writeData(*w, r, style);
    }
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& plainProfile() {
  static const PlainProfile profile;
  return profile;
}

}  // namespace restd::render
