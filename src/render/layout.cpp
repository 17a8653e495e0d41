#include "render/layout.h"

#include <algorithm>

#include "common/time.h"

namespace restd::render {
namespace {

// An instant's calendar fields in the configured zone, and that zone's offset.
struct Local {
  CivilTime civil;
  int offset;
};
Local local(int64_t ms) {
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  int off = TimeZone::offsetSeconds(sysTimeFromSeconds(secs));
  return Local{civilFromUnix(secs + off), off};
}

}  // namespace

std::string rfc3339Layout(int64_t ms) { return formatRfc3339Millis(ms); }

std::string compactOffsetLayout(int64_t ms) {
  Local l = local(ms);
  std::string out;
  out.reserve(24);
  appendIsoDateTime(out, l.civil);
  appendOffset(out, l.offset, false);
  return out;
}

std::string rfc2822Layout(int64_t ms) {
  Local l = local(ms);
  std::string out;
  out.reserve(31);
  appendImfDateTime(out, l.civil);
  out.push_back(' ');
  appendOffset(out, l.offset, false);
  return out;
}

bool holdsRecords(const Reply& r) {
  switch (r.kind) {
    case ReplyKind::record:
    case ReplyKind::list:
    case ReplyKind::created:
    case ReplyKind::updated:
    case ReplyKind::deleted:
    case ReplyKind::batch: return true;
    default: return false;
  }
}

void writeRecord(TreeWriter& w, const Reply& r, const rapidjson::Value& record, const RecordStyle& style) {
  if (!record.IsObject()) return w.value(record);
  w.startObject();
  for (auto& m : record.GetObject()) {
    std::string_view k(m.name.GetString(), m.name.GetStringLength());
    bool isDate = style.dates && m.value.IsString() && r.dateFields &&
                  std::find(r.dateFields->begin(), r.dateFields->end(), k) != r.dateFields->end();
    w.key(k == "id" ? style.idKey : k);
    if (isDate) {
      auto ms = parseRfc3339Millis(std::string_view(m.value.GetString(), m.value.GetStringLength()));
      if (ms) {
        w.string((*style.dates)(*ms));
        continue;
      }
    }
    w.memberValue(k, m.value);
  }
  w.endObject();
}

void writeData(TreeWriter& w, const Reply& r, const RecordStyle& style) {
  if (!holdsRecords(r) && r.kind != ReplyKind::authenticate) return w.value(r.data);
  if (r.data.IsArray()) {
    w.startArray(recordKey(r));
    for (auto& e : r.data.GetArray()) writeRecord(w, r, e, style);
    w.endArray();
    return;
  }
  writeRecord(w, r, r.data, style);
}

void writeFailures(TreeWriter& w, const Reply& r, std::string_view docsUrl, const RecordStyle& style) {
  w.key("failures");
  w.startArray("failure");
  for (const auto& f : r.failures) {
    w.startObject();
    w.key("index");
    w.integer(static_cast<int64_t>(f.index));
    w.key("rawData");
    if (f.rawData.IsObject()) writeRecord(w, r, f.rawData, RecordStyle{nullptr, style.idKey});
    else w.value(f.rawData);
    w.key("errors");
    w.startArray("error");
    for (const auto& e : f.errors) writeErrorObject(w, e, docsUrl);
    w.endArray();
    w.endObject();
  }
  w.endArray();
}

void writeBatchCounts(TreeWriter& w, const BatchCounts& c) {
  w.key("receivedItemsCount");
  w.integer(static_cast<int64_t>(c.receivedItemsCount));
  for (auto [key, list] : {std::pair{"validItems", &c.validItems}, std::pair{"invalidItems", &c.invalidItems}}) {
    w.key(key);
    w.startArray("item");
    for (size_t i : *list) w.integer(static_cast<int64_t>(i));
    w.endArray();
  }
}

void writePaginationMembers(TreeWriter& w, const Pagination& p) {
  if (p.page) { w.key("page"); w.integer(*p.page); }
  if (p.pagesCount) { w.key("pagesCount"); w.integer(*p.pagesCount); }
  w.key("recordsPerPage");
  w.integer(p.perPage);
  if (p.recordsCount) { w.key("recordsCount"); w.integer(*p.recordsCount); }
  if (p.nextCursor) { w.key("nextCursor"); w.string(*p.nextCursor); }
}

void writeMetaMembers(TreeWriter& w, const Reply& r, const RenderContext& ctx) {
  w.key("requestId");
  w.string(ctx.requestId);
  w.key("date");
  w.string(rfc3339OfSecond(ctx.now));
  if (r.message) {
    w.key("message");
    w.string(*r.message);
  }
  if (r.batch) writeBatchCounts(w, *r.batch);
  if (ctx.rateLimit) {
    w.key("rateLimit");
    w.startObject();
    w.key("limit");
    w.integer(ctx.rateLimit->limit);
    w.key("remaining");
    w.integer(ctx.rateLimit->remaining);
    w.key("reset");
    w.integer(ctx.rateLimit->reset);
    w.endObject();
  }
}

std::string_view recordsKey(const Reply& r) { return r.collection.empty() ? std::string_view("items") : r.collection; }
std::string_view recordKey(const Reply& r) { return r.singular.empty() ? std::string_view("item") : r.singular; }

TreeWriterPtr writerFor(const RenderContext& ctx, std::string_view xmlRoot, std::string_view xmlns) {
  return ctx.format == Format::xml ? makeXmlWriter(xmlRoot, xmlns, ctx.pretty) : makeJsonWriter(ctx.pretty);
}

std::string_view contentTypeFor(const RenderContext& ctx) {
  return ctx.format == Format::xml ? "application/xml; charset=utf-8" : "application/json; charset=utf-8";
}

const rapidjson::Value& memberOrNull(const rapidjson::Value& v, const char* key) {
  static const rapidjson::Value null;
  if (!v.IsObject()) return null;
  auto it = v.FindMember(key);
  return it == v.MemberEnd() ? null : it->value;
}

}  // namespace restd::render
