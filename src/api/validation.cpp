#include "api/validation.h"

#include <cmath>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "config/names.h"

namespace restd::api {
namespace {


size_t utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string describe(FieldType t) {
  switch (t) {
    case FieldType::string: return "a string";
    case FieldType::integer: return "a whole number (64-bit)";
    case FieldType::number: return "a number";
    case FieldType::boolean: return "true or false";
    case FieldType::datetime: return "an RFC 3339 date-time string";
    case FieldType::object: return "an object";
    case FieldType::array: return "an array";
  }
  return "a value";
}

bool typeFits(FieldType t, const rapidjson::Value& v) {
  switch (t) {
    case FieldType::string: return v.IsString();
    case FieldType::integer: return v.IsInt64();
    case FieldType::number: return v.IsNumber();
    case FieldType::boolean: return v.IsBool();
    case FieldType::datetime:
      return v.IsString() && parseRfc3339Millis(std::string_view(v.GetString(), v.GetStringLength())).has_value();
    case FieldType::object: return v.IsObject();
    case FieldType::array: return v.IsArray();
  }
  return false;
}

std::string fmtNumber(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  return std::to_string(d);
}

// Checks one present, non-null value against its field's type and rules.
std::optional<ErrorObject> checkValue(const FieldRules& fr, const rapidjson::Value& v) {
  const FieldSpec& f = *fr.spec;
  if (!typeFits(f.type, v))
    return ErrorObject(Reason::field_type, "The field \"" + f.name + "\" must be " + describe(f.type) + ".")
        .withField(f.name);
  auto rule = [&](const std::string& msg) { return ErrorObject(Reason::field_rule, msg).withField(f.name); };
  if (!fr.enumValues.empty()) {
    bool found = false;
    for (const auto& e : fr.enumValues)
      if (e == v) found = true;
    if (!found) {
      std::string list;
      for (const auto& e : fr.enumValues) list += (list.empty() ? "" : ", ") + toJsonText(e);
      return rule("The field \"" + f.name + "\" must be one of " + list + ".");
    }
  }
  if (v.IsNumber()) {
    double d = v.GetDouble();
    if (f.min && d < *f.min) return rule("The field \"" + f.name + "\" must be at least " + fmtNumber(*f.min) + ".");
    if (f.max && d > *f.max) return rule("The field \"" + f.name + "\" must be at most " + fmtNumber(*f.max) + ".");
  }
  if (v.IsString() || v.IsArray()) {
    int64_t len = v.IsString() ? static_cast<int64_t>(utf8Length(std::string_view(v.GetString(), v.GetStringLength())))
                               : static_cast<int64_t>(v.Size());
    const char* unit = v.IsString() ? " characters" : " items";
    if (f.minLength && len < *f.minLength)
      return rule("The field \"" + f.name + "\" must have at least " + std::to_string(*f.minLength) + unit + ".");
    if (f.maxLength && len > *f.maxLength)
      return rule("The field \"" + f.name + "\" must have at most " + std::to_string(*f.maxLength) + unit + ".");
  }
  if (fr.pattern && v.IsString() && !fr.pattern->matches(std::string_view(v.GetString(), v.GetStringLength())))
    return rule("The field \"" + f.name + "\" must match the pattern " + fr.pattern->source() + ".");
  return std::nullopt;
}

}  // namespace

bool isSystemField(std::string_view name) { return isOneOf(kSystemFields, name); }

CollectionRules CollectionRules::compile(const CollectionSpec& spec) {
  CollectionRules r;
  r.spec = &spec;
  r.dateFields = {"createdAt", "updatedAt"};
  for (const auto& f : spec.fields)
    if (f.type == FieldType::datetime) r.dateFields.push_back(f.name);
  for (const auto& f : spec.fields) {
    FieldRules fr;
    fr.spec = &f;
    std::string error;
    if (f.pattern) fr.pattern = Pattern::compile(*f.pattern, error);  // validated at load
    fr.defaultValue.SetNull();
    if (f.defaultJson) fr.defaultValue.Parse(f.defaultJson->data(), f.defaultJson->size());
    for (const auto& e : f.enumJson) {
      rapidjson::Document d;
      d.Parse(e.data(), e.size());
      fr.enumValues.push_back(std::move(d));
    }
    r.fields.push_back(std::move(fr));
  }
  return r;
}

const FieldRules* CollectionRules::field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.spec->name == name) return &f;
  return nullptr;
}

void mergePatch(rapidjson::Value& target, const rapidjson::Value& patch, rapidjson::Document::AllocatorType& a) {
  if (!patch.IsObject()) {
    copyJson(patch, target, a);
    return;
  }
  if (!target.IsObject()) target.SetObject();
  // FindMember is a scan: patching many keys into a large object would be
  // quadratic, so past a few keys on each side the target is indexed once.
  std::unordered_map<std::string_view, rapidjson::SizeType> index;
  bool indexed = patch.MemberCount() > 8 && target.MemberCount() > 8;
  if (indexed)
    for (auto m = target.MemberBegin(); m != target.MemberEnd(); ++m)
      index.emplace(std::string_view(m->name.GetString(), m->name.GetStringLength()),
                    static_cast<rapidjson::SizeType>(m - target.MemberBegin()));
  std::vector<bool> erased(indexed ? target.MemberCount() : 0);
  bool anyErased = false;
  for (auto& m : patch.GetObject()) {
    auto it = target.MemberEnd();
    if (!indexed) {
      it = target.FindMember(m.name);
    } else if (auto found = index.find(std::string_view(m.name.GetString(), m.name.GetStringLength()));
               found != index.end()) {
      it = target.MemberBegin() + found->second;
    }
    if (m.value.IsNull()) {
      if (it == target.MemberEnd()) continue;
      // EraseMember shifts the rest (a scan, and the index would go stale):
      // indexed removals are marked and compacted once at the end.
      if (indexed) erased[static_cast<size_t>(it - target.MemberBegin())] = true, anyErased = true;
      else target.EraseMember(it);
    } else if (it != target.MemberEnd()) {
      mergePatch(it->value, m.value, a);
    } else {
      rapidjson::Value v;
      mergePatch(v, m.value, a);
      target.AddMember(rapidjson::Value(m.name, a), v, a);
    }
  }
  if (anyErased) {
    rapidjson::Value kept(rapidjson::kObjectType);
    size_t i = 0;
    for (auto m = target.MemberBegin(); m != target.MemberEnd(); ++m, ++i)
      if (i >= erased.size() || !erased[i]) kept.AddMember(m->name, m->value, a);  // moves
    target = kept;
  }
}

namespace {

// A body's problems: declared fields' (reported in config order), then
// unknown and system fields' (in body order). A body of 90,000 unknown keys
// must not become a 15 MB reply: `details` lists at most kMaxErrorDetails
// problems, and the rest are only counted.
struct Problems {
  std::vector<ErrorObject> declared;
  std::vector<ErrorObject> unknown;
  size_t unlisted = 0;

  bool unknownFull() const { return unknown.size() >= kMaxErrorDetails; }
  void addUnknown(ErrorObject e) {
    if (!unknownFull()) unknown.push_back(std::move(e));
    else ++unlisted;
  }

  // One error whose details are every problem, or nullopt.
  std::optional<ErrorObject> result(const CollectionRules& rules) {
    std::vector<ErrorObject> all;
    for (const auto& fr : rules.fields)
      for (auto& p : declared)
        if (p.field == fr.spec->name) all.push_back(p);
    for (auto& u : unknown) all.push_back(std::move(u));
    if (all.empty()) return std::nullopt;
    size_t total = all.size() + unlisted;
    if (all.size() > kMaxErrorDetails) {
      unlisted += all.size() - kMaxErrorDetails;
      all.resize(kMaxErrorDetails);
    }
    ErrorObject top = all.front();
    top.details = std::move(all);
    if (total > 1) top.message = std::to_string(total) + " fields are invalid; the first: " + top.message;
    if (unlisted > 0)
      top.description = "details lists the first " + std::to_string(kMaxErrorDetails) + " of " +
                        std::to_string(total) + " problems; " + std::to_string(unlisted) + " more are not listed.";
    return top;
  }
};

// Keys the client may not write: system fields, read-only fields, and
// unknown ones where the collection rejects extras.
void checkKeys(const CollectionRules& rules, const rapidjson::Value& body, WriteMode mode, Problems& problems) {
  const CollectionSpec& spec = *rules.spec;
  for (auto& m : body.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (isSystemField(key)) {
      if (mode == WriteMode::restore) continue;
      problems.addUnknown(ErrorObject(Reason::read_only_field, "The field \"" + std::string(key) +
                                                                   "\" is set by the server and cannot be written.")
                              .withField(std::string(key)));
    } else if (const FieldRules* fr = rules.field(key)) {
      if (fr->spec->readOnly && mode != WriteMode::restore)
        problems.declared.push_back(
            ErrorObject(Reason::read_only_field, "The field \"" + std::string(key) + "\" is read-only.")
                .withField(std::string(key)));
    } else if (spec.extraFields == ExtraFields::reject) {
      if (problems.unknownFull()) ++problems.unlisted;  // not even its message is built
      else
        problems.addUnknown(ErrorObject(Reason::unknown_field, "The field \"" + std::string(key) +
                                                                   "\" is not part of a " + spec.singular + ".")
                                .withField(std::string(key)));
    }
  }
}

// One declared field's value as it would be stored: from the body (or, on
// PATCH, the merged record), its default, or its current value when
// read-only; checked against the field's rules.
rapidjson::Value fieldValue(const FieldRules& fr, const rapidjson::Value& body, const rapidjson::Value& merged,
                            const rapidjson::Value* current, WriteMode mode, rapidjson::Document::AllocatorType& a,
                            Problems& problems) {
  const FieldSpec& f = *fr.spec;
  const rapidjson::Value* given = nullptr;
  auto bit = body.FindMember(f.name.c_str());
  bool inBody = bit != body.MemberEnd();
  rapidjson::Value value;
  if (mode == WriteMode::patch) {
    auto mit = merged.FindMember(f.name.c_str());
    if (mit != merged.MemberEnd()) copyJson(mit->value, value, a);
    if (inBody) given = &value;
  } else if (inBody && (!f.readOnly || mode == WriteMode::restore)) {
    copyJson(bit->value, value, a);
    given = &value;
  }
  bool absent = value.IsNull();
  bool writable = !f.readOnly || mode == WriteMode::restore;
  if (absent && mode != WriteMode::patch && !fr.defaultValue.IsNull() && (!inBody || !writable)) {
    copyJson(fr.defaultValue, value, a);  // defaults fill what the client left out
    absent = false;
  }
  if (f.readOnly && mode == WriteMode::patch && current) {
    auto cit = current->FindMember(f.name.c_str());
    if (cit != current->MemberEnd()) copyJson(cit->value, value, a);
    absent = value.IsNull();
  }
  if (inBody && !writable) return value;  // reported by checkKeys()
  if (absent && f.required && (mode != WriteMode::patch || inBody)) {
    problems.declared.push_back(
        ErrorObject(Reason::field_required, "The field \"" + f.name + "\" is required.").withField(f.name));
  } else if (!absent && given) {
    if (auto e = checkValue(fr, value)) problems.declared.push_back(std::move(*e));
    else if (f.type == FieldType::datetime) {
      // Stored as an instant; rendered in the configured zone like every date.
      std::string canonical =
          formatRfc3339Millis(*parseRfc3339Millis(std::string_view(value.GetString(), value.GetStringLength())));
      value.SetString(canonical.c_str(), static_cast<rapidjson::SizeType>(canonical.size()), a);
    }
  }
  return value;
}

}  // namespace

std::optional<ErrorObject> buildValues(const CollectionRules& rules, const rapidjson::Value& body, WriteMode mode,
                                       const rapidjson::Value* current, rapidjson::Document& out) {
  const CollectionSpec& spec = *rules.spec;
  if (!body.IsObject())
    return ErrorObject(Reason::invalid_json, "The body must be a JSON object describing one " + spec.singular + ".");
  auto& a = out.GetAllocator();
  Problems problems;
  checkKeys(rules, body, mode, problems);

  // The record as it would be stored.
  rapidjson::Value merged(rapidjson::kObjectType);
  if (mode == WriteMode::patch && current) {
    copyJson(*current, merged, a);
    mergePatch(merged, body, a);
  }
  out.SetObject();
  for (const auto& fr : rules.fields)
    out.AddMember(rapidjson::Value(fr.spec->name.c_str(), a), fieldValue(fr, body, merged, current, mode, a, problems),
                  a);
  // Extras, in body order (only kept when extra_fields = "allow").
  if (spec.extraFields == ExtraFields::allow) {
    const rapidjson::Value& source = mode == WriteMode::patch ? merged : body;
    for (auto& m : source.GetObject()) {
      std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (rules.field(key) || isSystemField(key)) continue;
      addMemberCopy(out, m, a);
    }
  }
  return problems.result(rules);
}

void formToJson(const CollectionRules& rules, const std::vector<std::pair<std::string, std::string>>& form,
                rapidjson::Document& out) {
  out.SetObject();
  auto& a = out.GetAllocator();
  // Where each name already is in `out`: a repeated field replaces its value
  // without a scan, so a form of 90,000 fields stays linear.
  std::unordered_map<std::string_view, rapidjson::SizeType> seen;
  for (const auto& [k, v] : form) {
    if (k == "access_token") continue;  // a token sent as a form field is not record data
    rapidjson::Value value;
    value.SetString(v.c_str(), static_cast<rapidjson::SizeType>(v.size()), a);
    if (const FieldRules* fr = rules.field(k)) {
      switch (fr->spec->type) {
        case FieldType::integer:
        case FieldType::number:
        case FieldType::boolean:
        case FieldType::object:
        case FieldType::array: {
          rapidjson::Document parsed(&a);
          std::string why;
          if (parseStrictJson(v, parsed, why)) copyJson(parsed, value, a);
          break;
        }
        default: break;
      }
    }
    auto [it, added] = seen.try_emplace(k, out.MemberCount());
    if (!added) (out.MemberBegin() + it->second)->value = value;  // the last of repeated form fields wins
    else out.AddMember(rapidjson::Value(k.c_str(), static_cast<rapidjson::SizeType>(k.size()), a), value, a);
  }
}

}  // namespace restd::api
