// `success-flag` (seed 001):
//   GET: the bare record or a bare array (paging in Link / X-Total-Count).
//   Other successes: {"success": true, "statusMessage": …, payload…}:
//     /authenticate -> access_token, expires; /me -> logged_in (GET too);
//     writes -> "thing created|updated" with the record under its singular;
//     delete -> {"success": true, "statusMessage": "thing deleted", "id": ID}.
//   Errors: the reason phrase is the message (HTTP/1.1 401 Please renew your
//   access_token) and the body is exactly {"success": false, "statusMessage": MESSAGE}.
//   Dates: 2015-02-20T16:32:51-0300.
#include "render/layout.h"

namespace restd::render {
namespace {

const DateLayout kDates = compactOffsetLayout;

// A reason phrase may hold no control characters (RFC 9112 §4).
std::string phrase(std::string_view message) {
  std::string p;
  for (char c : message) p += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? ' ' : c;
  return p;
}

class SuccessFlagProfile final : public Profile {
 public:
  std::string_view name() const override { return "success-flag"; }

  void render(const Reply& r, const RenderContext& ctx, Rendered& out) const override {
    auto w = writerFor(ctx);
    RecordStyle style{&kDates, "id"};
    bool get = ctx.method == "GET" || ctx.method == "HEAD";
    if (r.error) {
      w->startObject();
      w->key("success");
      w->boolean(false);
      w->key("statusMessage");
      w->string(r.error->message);
      w->endObject();
      out.reasonPhrase = phrase(r.error->message);
    } else if (r.kind == ReplyKind::me) {
      w->startObject();
      w->key("success");
      w->boolean(true);
      for (const char* k : {"statusMessage", "logged_in"}) {
        w->key(k);
        w->value(memberOrNull(r.data, k));
      }
      w->endObject();
    } else if (get && r.kind != ReplyKind::authenticate) {
      writeData(*w, r, style);  // bare record, bare array, bare resource
    } else {
      w->startObject();
      w->key("success");
      w->boolean(true);
      w->key("statusMessage");
      std::string singular(recordKey(r));
      switch (r.kind) {
        case ReplyKind::authenticate:
          w->string("authenticated");
          for (const char* k : {"access_token", "expires"}) {
            w->key(k);
            const rapidjson::Value& v = memberOrNull(r.data, k);
            auto ms = k == std::string_view("expires") && v.IsString()
                          ? parseRfc3339Millis(std::string_view(v.GetString(), v.GetStringLength()))
                          : std::nullopt;
            if (ms) w->string(kDates(*ms));
            else w->value(v);
          }
          break;
        case ReplyKind::created:
        case ReplyKind::updated:
          w->string(singular + (r.kind == ReplyKind::created ? " created" : " updated"));
          w->key(singular);
          writeRecord(*w, r, r.data, style);
          break;
        case ReplyKind::deleted:
          w->string(singular + " deleted");
          w->key("id");
          w->value(memberOrNull(r.data, "id"));
          break;
        case ReplyKind::batch: {
          size_t n = r.data.IsArray() ? r.data.Size() : 0;
          w->string(std::to_string(n) + " " + std::string(n == 1 ? recordKey(r) : recordsKey(r)) + " " + r.action);
          w->key(recordsKey(r));
          writeData(*w, r, style);
          if (!r.failures.empty()) writeFailures(*w, r, ctx.docsUrl, style);
          if (r.batch) writeBatchCounts(*w, *r.batch);
          break;
        }
        default:
          // Any other action (logout, …): its own statusMessage, then its payload.
          if (r.data.IsObject() && r.data.HasMember("statusMessage")) w->value(memberOrNull(r.data, "statusMessage"));
          else w->string("ok");
          if (r.data.IsObject())
            for (auto& m : r.data.GetObject()) {
              std::string_view k(m.name.GetString(), m.name.GetStringLength());
              if (k == "statusMessage") continue;
              w->key(k);
              w->memberValue(k, m.value);
            }
      }
      w->endObject();
    }
    out.body = w->finish();
    out.contentType = contentTypeFor(ctx);
  }
};

}  // namespace

const Profile& successFlagProfile() {
  static const SuccessFlagProfile profile;
  return profile;
}

}  // namespace restd::render
