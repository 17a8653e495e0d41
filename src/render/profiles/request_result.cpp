// `request-result` (seed 000):
//   {"response": {"request": {"date": "Tue, 24 Nov 2026 10:00:00 +0000", "resource": "/things.json",
//                             "status": {"flag": "success", "code": 200}},
//                 "result": {"status": {"flag": "success", "count": 2},
//                            "data": {"things": [{"thing": {…}}, …]}}}}
// One record: "data": {"thing": {…}}. Errors have no result; their status is
// {"flag": "error", "code": 401, "info": "MESSAGE: INFO-URL"}. Dates, records'
// included, in the seed's RFC 2822 style. In XML the root is <response> and
// records are <things><thing>…</thing></things>.
#include "render/layout.h"

namespace restd::render {
namespace {

const DateLayout kDates = rfc2822Layout;

class RequestResultProfile final : public Profile {
 public:
  std::string_view name() const override { return "request-result"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    bool xml = ctx.format == Format::xml;
    auto w = writerFor(ctx);
    RecordStyle style{&kDates, "id"};
    w->startObject();
    if (!xml) {
      w->key("response");
      w->startObject();
    }
    bool ok = !r.error;
    w->key("request");
    w->startObject();
    w->key("date");
    auto nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.now.time_since_epoch()).count();
    w->string(rfc2822Layout(nowMs));
    w->key("resource");
    w->string(ctx.resource);
    w->key("status");
    w->startObject();
    w->key("flag");
    w->string(ok ? "success" : "error");
    w->key("code");
    w->integer(r.status);
    if (!ok) {
      w->key("info");
      w->string(r.error->message + ": " + errorInfoUrl(ctx.docsUrl, r.error->reason));
    }
    w->endObject();
    w->endObject();
    if (ok) {
      w->key("result");
      w->startObject();
      w->key("status");
      w->startObject();
      w->key("flag");
      w->string("success");
      w->key("count");
      w->integer(holdsRecords(r) && r.data.IsArray() ? static_cast<int64_t>(r.data.Size()) : 1);
      w->endObject();
      w->key("data");
      if (!holdsRecords(r)) {
        writeData(*w, r, style);
      } else if (r.data.IsArray()) {
        w->startObject();
        w->key(recordsKey(r));
        w->startArray(recordKey(r));
        for (auto& e : r.data.GetArray()) {
          if (!xml) {
            w->startObject();
            w->key(recordKey(r));
          }
          writeRecord(*w, r, e, style);
          if (!xml) w->endObject();
        }
        w->endArray();
        w->endObject();
      } else {
        w->startObject();
        w->key(recordKey(r));
        writeRecord(*w, r, r.data, style);
        w->endObject();
      }
      if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
      w->endObject();
    } else if (!r.failures.empty()) {
      writeFailures(*w, r, ctx.docsUrl, style);
    }
    if (!xml) w->endObject();
    w->endObject();
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& requestResultProfile() {
  static const RequestResultProfile profile;
  return profile;
}

}  // namespace restd::render
