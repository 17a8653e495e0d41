// Fuzzes rendering: an arbitrary Reply (kind, status, payload JSON, message,
// error object with details, pagination, failures) rendered in every profile
// as JSON and as XML. The JSON must parse back; the XML must be well formed.
#include <fuzzer/FuzzedDataProvider.h>
#include <pugixml.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "render/profile.h"
#include "render/reply.h"

using namespace restd;

namespace {

constexpr const char* kProfiles[] = {"standard",     "problem", "request-result", "success-flag",
                                     "plain",        "data-meta", "result-metadata"};

ErrorObject anyError(FuzzedDataProvider& in, int depth) {
  auto reason = static_cast<Reason>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(Reason::internal)));
  ErrorObject e(reason, in.ConsumeRandomLengthString(64));
  if (in.ConsumeBool()) e.description = in.ConsumeRandomLengthString(64);
  if (in.ConsumeBool()) e.field = in.ConsumeRandomLengthString(16);
  if (depth < 2)
    for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) e.details.push_back(anyError(in, depth + 1));
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  unsigned selector = data[0];
  FuzzedDataProvider in(data + 1, size - 1);
  render::Reply reply;
  reply.kind = static_cast<render::ReplyKind>(in.ConsumeIntegralInRange<int>(0, 10));  // not `document`
  reply.status = in.ConsumeIntegralInRange(100, 599);
  reply.collection = "things";
  reply.singular = "thing";
  reply.action = in.PickValueInArray({"created", "updated", "deleted"});
  static const std::vector<std::string> kDates{"createdAt", "updatedAt"};
  reply.dateFields = &kDates;
  if (in.ConsumeBool()) reply.message = in.ConsumeRandomLengthString(64);
  if (reply.kind == render::ReplyKind::error || in.ConsumeBool()) reply.error = anyError(in, 0);
  if (in.ConsumeBool()) {
    render::Pagination p;
    if (in.ConsumeBool()) p.page = in.ConsumeIntegral<int64_t>();
    else p.page.reset();
    p.perPage = in.ConsumeIntegral<int64_t>();
    if (in.ConsumeBool()) p.recordsCount = in.ConsumeIntegral<int64_t>();
    if (in.ConsumeBool()) p.pagesCount = in.ConsumeIntegral<int64_t>();
    if (in.ConsumeBool()) p.nextCursor = in.ConsumeRandomLengthString(32);
    reply.pagination = p;
  }
  if (reply.kind == render::ReplyKind::batch) {
    render::BatchCounts counts;
    counts.receivedItemsCount = in.ConsumeIntegralInRange<size_t>(0, 5);
    for (size_t i = 0; i < counts.receivedItemsCount; ++i)
      (in.ConsumeBool() ? counts.validItems : counts.invalidItems).push_back(i);
    reply.batch = counts;
    for (size_t i : counts.invalidItems) {
      render::Failure f;
      f.index = i;
      f.rawData.Parse(in.ConsumeRandomLengthString(64).c_str());
      if (f.rawData.HasParseError()) f.rawData.SetNull();
      f.errors.push_back(anyError(in, 1));
      reply.failures.push_back(std::move(f));
    }
  }
  std::string payload = in.ConsumeRemainingBytesAsString();
  reply.data.Parse<rapidjson::kParseValidateEncodingFlag>(payload.data(), payload.size());
  if (reply.data.HasParseError()) reply.data.SetNull();
  if (reply.kind == render::ReplyKind::error && !reply.error) return 0;

  render::RenderContext ctx;
  ctx.requestId = "fuzzrequestid0000000";
  ctx.now = std::chrono::system_clock::time_point(std::chrono::seconds(1764620000));
  ctx.resource = "/api/v2/things";
  ctx.instance = "/api/v2/things/x";
  ctx.method = "GET";
  // One profile and format per input (chosen by its first byte): fourteen
  // renders per input made the target too slow to reach millions of runs.
  const render::Profile* profile = render::findProfile(kProfiles[selector % 7]);
  if (!profile) std::abort();
  auto format = selector / 7 % 2 ? render::Format::xml : render::Format::json;
  ctx.format = format;
  render::Rendered out = render::renderReply(*profile, reply, ctx);
  if (reply.kind == render::ReplyKind::empty || out.body.empty()) return 0;
  if (format == render::Format::json) {
    rapidjson::Document back;
    back.Parse(out.body.data(), out.body.size());
    if (back.HasParseError()) std::abort();
  } else {
    pugi::xml_document doc;
    if (!doc.load_buffer(out.body.data(), out.body.size())) std::abort();
  }
  return 0;
}
