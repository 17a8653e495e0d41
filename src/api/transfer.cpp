#include "api/transfer.h"

#include <rapidjson/document.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_set>
#include <vector>

#include "api/record_helpers.h"
#include "api/validation.h"
#include "common/json.h"
#include "common/record_ids.h"
#include "common/time.h"
#include "render/profile.h"

namespace restd::api {

Status exportRecords(store::Store& store, const CollectionSpec& c, std::FILE* out,
                           const store::ProgressFn& progress, int64_t& records, int64_t& bytes) {
  records = bytes = 0;
  bool stopped = false, writeFailed = false;
  Status e = store.readSnapshot([&](store::ReadSnapshot& snap) -> Status {
    store::CopyProgress p;
    if (auto e = snap.count(c, p.total)) return e;
    // One pool for every line, emptied after each: no allocation per record
    // once it has grown to the largest.
    rapidjson::MemoryPoolAllocator<> pool(16 << 10);
    return snap.records(c, [&](store::Record& r) {
      rapidjson::Value data;
      recordToJson(c, r, nullptr, data, pool);
      // To the millisecond the storage keeps (replies show whole seconds),
      // so an import restores the record exactly.
      for (auto [name, ms] : {std::pair{"createdAt", r.createdAt}, {"updatedAt", r.updatedAt}}) {
        std::string t = formatRfc3339Millis(ms);
        data[name].SetString(t.c_str(), static_cast<rapidjson::SizeType>(t.size()), pool);
      }
      std::string line = render::renderStandardRecord(data);
      pool.Clear();
      // The newline written apart: appending it would regrow the string.
      if (std::fwrite(line.data(), 1, line.size(), out) != line.size() || std::fputc('\n', out) == EOF) {
        writeFailed = true;
        return false;
      }
      bytes += static_cast<int64_t>(line.size()) + 1;
      p.done = ++records;
      p.bytes = bytes;
      if ((records & 1023) == 0 && progress && !progress(p)) {
        stopped = true;
        return false;
      }
      return true;
    });
  });
  if (e) return e;
  if (writeFailed || std::fflush(out) != 0)
    return {StatusCode::unavailable, {}, std::string("cannot write the export: ") + std::strerror(errno)};
  if (stopped) return {StatusCode::internal, {}, std::string(store::kInterruptedDetail)};
  return {};
}

namespace {

// The system fields of one line into `r`: each one the line has, checked,
// else what a new record gets (a new id, now, version 1, `defaultOwner`).
// `slugGiven` says whether the line brought its own slug.
std::optional<std::string> readSystemFields(const CollectionSpec& c, const rapidjson::Value& line,
                                            const std::string& defaultOwner, store::Record& r, bool& slugGiven) {
  auto member = [&](const char* name) -> const rapidjson::Value* {
    auto it = line.FindMember(name);
    return it == line.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  };
  auto text = [](const rapidjson::Value& v) { return std::string_view(v.GetString(), v.GetStringLength()); };
  if (const auto* v = member("id")) {
    if (!v->IsString() || !isRecordId(text(*v), c.idPrefix))
      return "id: not an id of " + c.name + " (" + c.idPrefix + "_ and 26 base32 characters)";
    r.id = text(*v);
  } else {
    r.id = newRecordId(c.idPrefix);
  }
  auto instant = [&](const char* name, int64_t fallback, int64_t& out) -> std::optional<std::string> {
    const auto* v = member(name);
    if (!v) {
      out = fallback;
      return std::nullopt;
    }
    std::optional<int64_t> ms = v->IsString() ? parseRfc3339Millis(text(*v)) : std::nullopt;
    if (!ms) return std::string(name) + ": not an RFC 3339 date-time";
    out = *ms;
    return std::nullopt;
  };
  if (auto e = instant("createdAt", nowMillis(), r.createdAt)) return e;
  if (auto e = instant("updatedAt", r.createdAt, r.updatedAt)) return e;
  r.version = 1;
  if (const auto* v = member("version")) {
    if (!v->IsInt64() || v->GetInt64() < 1) return std::string("version: not a whole number of at least 1");
    r.version = v->GetInt64();
  }
  r.owner = defaultOwner;
  if (const auto* v = member("owner")) {
    if (!v->IsString() || v->GetStringLength() == 0) return std::string("owner: not a user name");
    r.owner = text(*v);
  }
  slugGiven = false;
  if (const auto* v = member("slug")) {
    if (!c.slugFrom) return "slug: " + c.name + " has no slugs (no slug_from)";
    if (!v->IsString() || slugify(text(*v)) != text(*v) || text(*v) == "events")
      return std::string("slug: not a slug (lower-case letters and digits in runs joined by single hyphens)");
    r.slug = std::string(text(*v));
    slugGiven = true;
  }
  return std::nullopt;
}

// What subscribers get for an import too large to send record by record:
// the signal to read the collection again (docs/events.md).
store::StoredEvent bulkImportEvent(const CollectionSpec& c, int64_t records) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  std::string message = std::to_string(records) + " " + c.name +
                        " records were imported: read the collection again, then follow this stream.";
  d.AddMember("reason", "bulk_import", a);
  d.AddMember("message", rapidjson::Value(message.c_str(), static_cast<rapidjson::SizeType>(message.size()), a), a);
  store::StoredEvent e;
  e.collection = c.name;
  e.kind = "reset";
  e.data = toJsonText(d);
  e.at = nowMillis();
  return e;
}

// One line into the record it describes, validated as a POST of it would
// be (WriteMode::restore), or the problem: "FIELD: message" or a sentence.
// The line's tree lives in `pool`, emptied here for every line: no 64 KiB
// first chunk allocated and freed per record.
std::optional<std::string> readLine(const CollectionRules& rules, std::string_view text,
                                    const std::string& defaultOwner, rapidjson::MemoryPoolAllocator<>& pool,
                                    store::Record& r, bool& slugGiven) {
  const CollectionSpec& c = *rules.spec;
  pool.Clear();
  rapidjson::Document doc(&pool);
  std::string why;
  if (!parseStrictJson(text, doc, why)) return "not valid JSON: " + why;
  if (!doc.IsObject()) return "not a JSON object (each line is one " + c.singular + ")";
  if (auto problem = readSystemFields(c, doc, defaultOwner, r, slugGiven)) return problem;
  if (auto e = buildValues(rules, doc, WriteMode::restore, nullptr, r.values))
    return e->field ? *e->field + ": " + e->message : e->message;
  return std::nullopt;
}

std::string describe(const Status& e) {
  if (e.code != StatusCode::uniqueViolation) return e.detail.empty() ? "the storage failed" : e.detail;
  if (e.field == "id") return "id: another record already has this id";
  if (e.field == "slug") return "slug: another record already has this slug";
  return e.field + ": " + uniqueViolationMessage(e.field);  // a POST's 409 says the same
}

// One import inside its write job: lines are read into records, which go
// into the store in batches (one multi-row statement on PostgreSQL), so
// memory stays bounded however long the file. Each step returns false when
// the import stops (a problem in `result`, or interrupted).
class Importer {
 public:
  Importer(store::WriteTxn& txn, const CollectionRules& rules, const std::string& defaultOwner, size_t maxLineBytes,
           int64_t maxEventRecords, const store::ProgressFn& progress, ImportResult& result)
      : txn_(txn), c_(*rules.spec), rules_(rules), defaultOwner_(defaultOwner), maxLineBytes_(maxLineBytes),
        maxEventRecords_(maxEventRecords), progress_(progress), result_(result) {
    batch_.reserve(kBatch);
  }

  int64_t imported() const { return imported_; }

  bool run(std::FILE* in) {
    // Slugs chosen here are locked as one (on PostgreSQL one lock for the
    // collection instead of one per candidate probed).
    if (c_.slugFrom)
      if (auto e = txn_.reserveSlugs(c_)) return stop(0, describe(e));
    char* buf = nullptr;
    size_t cap = 0;
    struct Free {
      char*& b;
      ~Free() { std::free(b); }
    } freeBuf{buf};
    int64_t lineNo = 0;
    ssize_t n;
    while ((n = ::getline(&buf, &cap, in)) >= 0) {
      ++lineNo;
      copied_.bytes += n;
      if (!addLine(lineNo, std::string_view(buf, static_cast<size_t>(n)))) return false;
    }
    if (std::ferror(in)) return stop(0, std::string("cannot read the file: ") + std::strerror(errno));
    if (!batch_.empty() && !flush()) return false;
    if (imported_ > maxEventRecords_) held_.push_back(bulkImportEvent(c_, imported_));
    for (auto& e : held_)
      if (auto failed = txn_.appendEvent(std::move(e))) return stop(0, describe(failed));
    return true;
  }

 private:
  static constexpr size_t kBatch = 500;

  bool stop(int64_t line, std::string problem) {
    result_.line = line;
    result_.problem = std::move(problem);
    return false;
  }

  // The batch's slugs, by owner in owner-visibility collections (where
  // slugs are unique per owner).
  std::string slugKey(const std::string& owner, const std::string& slug) const {
    return c_.visibility == Visibility::owner ? owner + '\0' + slug : slug;
  }

  bool addLine(int64_t lineNo, std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) return true;  // blank lines separate nothing
    if (text.size() > maxLineBytes_)
      return stop(lineNo, "the line is longer than max_body_bytes (" + std::to_string(maxLineBytes_) + " bytes)");
    store::Record r;
    bool slugGiven = false;
    if (auto problem = readLine(rules_, text, defaultOwner_, linePool_, r, slugGiven)) return stop(lineNo, *problem);
    if (c_.slugFrom) {
      if (slugGiven) batchSlugs_.insert(slugKey(r.owner, *r.slug));
      else needSlug_.push_back(batch_.size());
    }
    batch_.push_back(std::move(r));
    lineOf_.push_back(lineNo);
    return batch_.size() < kBatch || flush();
  }

  // The batch's records that get a new slug, chosen at once when it
  // flushes: whether their first choices are taken is one question to the
  // storage for the whole batch (one round trip on PostgreSQL), and only
  // the taken ones probe further. A new slug is never one that the batch,
  // not yet inserted, holds (batchSlugs_).
  bool chooseSlugs() {
    firstChoices_.clear();
    for (size_t i : needSlug_) firstChoices_.emplace_back(batch_[i].owner, slugBase(c_, batch_[i]));
    if (auto e = txn_.slugsTaken(c_, firstChoices_, firstTaken_)) return stop(lineOf_[needSlug_[0]], describe(e));
    for (size_t k = 0; k < needSlug_.size(); ++k) {
      store::Record& r = batch_[needSlug_[k]];
      const std::string& first = firstChoices_[k].second;
      if (!firstTaken_[k] && !batchSlugs_.count(slugKey(r.owner, first))) {
        r.slug = first;
      } else {
        auto pending = [&](const std::string& slug) { return batchSlugs_.count(slugKey(r.owner, slug)) > 0; };
        if (auto e = chooseSlug(txn_, c_, r.owner, r, pending)) return stop(lineOf_[needSlug_[k]], describe(e));
      }
      batchSlugs_.insert(slugKey(r.owner, *r.slug));
    }
    needSlug_.clear();
    return true;
  }

  bool flush() {
    if (!needSlug_.empty() && !chooseSlugs()) return false;
    pointers_.clear();
    for (const auto& r : batch_) pointers_.push_back(&r);
    txn_.insertMany(c_, pointers_, errors_);
    for (size_t i = 0; i < batch_.size(); ++i)
      if (errors_[i]) return stop(lineOf_[i], describe(errors_[i]));
    // The change feed's events, written at the end: one per record while
    // the import is no larger than maxEventRecords, else one reset.
    if (imported_ + static_cast<int64_t>(batch_.size()) <= maxEventRecords_) {
      for (const auto& r : batch_) held_.push_back(eventOf(c_, "created", r));
    } else {
      held_.clear();  // a bulk import: one reset event at the end instead
    }
    imported_ += static_cast<int64_t>(batch_.size());
    batch_.clear();
    lineOf_.clear();
    batchSlugs_.clear();
    copied_.done = imported_;
    if (progress_ && !progress_(copied_)) {
      result_.interrupted = true;
      return false;
    }
    return true;
  }

  store::WriteTxn& txn_;
  const CollectionSpec& c_;
  const CollectionRules& rules_;
  const std::string& defaultOwner_;
  size_t maxLineBytes_;
  int64_t maxEventRecords_;
  const store::ProgressFn& progress_;
  ImportResult& result_;
  store::CopyProgress copied_;
  int64_t imported_ = 0;
  std::vector<store::Record> batch_;
  std::vector<int64_t> lineOf_;
  std::vector<const store::Record*> pointers_;
  std::vector<Status> errors_;
  std::unordered_set<std::string> batchSlugs_;
  std::vector<store::StoredEvent> held_;
  std::vector<size_t> needSlug_;
  std::vector<std::pair<std::string, std::string>> firstChoices_;
  std::vector<bool> firstTaken_;
  // Each line's tree lives here, emptied for every line (readLine).
  rapidjson::MemoryPoolAllocator<> linePool_{16 << 10};
};

}  // namespace

ImportResult importRecords(store::Store& store, const CollectionSpec& c, std::FILE* in,
                           const std::string& defaultOwner, size_t maxLineBytes, int64_t maxEventRecords,
                           const store::ProgressFn& progress) {
  CollectionRules rules = CollectionRules::compile(c);
  ImportResult result;
  int64_t imported = 0;
  bool committed = store.runWrite([&](store::WriteTxn& txn) {
    Importer importer(txn, rules, defaultOwner, maxLineBytes, maxEventRecords, progress, result);
    bool ok = importer.run(in);
    imported = importer.imported();
    return ok;
  });
  if (committed) {
    result.records = imported;
  } else if (result.problem.empty() && !result.interrupted) {
    result.problem = "the storage is unavailable";
  }
  return result;
}

}  // namespace restd::api
