// `problem`: RFC 9457 problem details for errors; successes as `standard`.
//   {"type": INFO-URL, "title": "Not Found", "status": 404, "detail": MESSAGE,
//    "instance": "/api/v2/things/x", "reason": …, "field": …, "errors": [error objects], "failures": […]?}
// XML: application/problem+xml, root <problem xmlns="urn:ietf:rfc:7807">.
#include "render/layout.h"

namespace restd::render {

const Profile& standardProfile();

namespace {

class ProblemProfile final : public Profile {
 public:
  std::string_view name() const override { return "problem"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    if (!r.error) return standardProfile().render(r, ctx, out);
    const ErrorObject& e = *r.error;
    auto w = writerFor(ctx, "problem", "urn:ietf:rfc:7807");
    w->startObject();
    w->key("type");
    w->string(errorInfoUrl(ctx.docsUrl, e.reason));
    w->key("title");
    w->string(statusPhrase(e.status()));
    w->key("status");
    w->integer(e.status());
    w->key("detail");
    w->string(e.message);
    w->key("instance");
    w->string(ctx.instance);
    w->key("reason");
    w->string(e.reasonName());
    if (e.field) {
      w->key("field");
      w->string(*e.field);
    }
    w->key("errors");
    w->startArray("error");
    if (e.details.empty()) writeErrorObject(*w, e, ctx.docsUrl);
    for (const auto& d : e.details) writeErrorObject(*w, d, ctx.docsUrl);
    w->endArray();
    if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, RecordStyle{});
    if (r.batch) writeBatchCounts(*w, *r.batch);
    w->key("requestId");
    w->string(ctx.requestId);
    w->endObject();
    out.body = w->finish();
    out.contentType = ctx.format == Format::xml ? "application/problem+xml; charset=utf-8"
                                                : "application/problem+json; charset=utf-8";
  }
};

}  // namespace

const Profile& problemProfile() {
  static const ProblemProfile profile;
  return profile;
}

}  // namespace restd::render
