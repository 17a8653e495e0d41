// A record's columns, written once for both engines: how each declared
// field's JSON value becomes a column value and back, and how undeclared
// members travel as one `_extra` JSON object. The engines supply only how a
// column value is bound or read (the Binder and Row concepts below), so the
// codec is templates: no virtual call per column on the hot path.
//
// Binder: null(i), integer(i, int64_t), real(i, double), text(i, string_view)
//   with parameter indexes from 1. Text must stay valid until the statement
//   runs: it points into the record or into `scratch`.
// Row: isNull(i), isInteger(i) (a NUMERIC column holding an integer),
//   integer(i), real(i), text(i) -> string_view, with column indexes from 0.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/time.h"
#include "config/config.h"
#include "store/sql/sql_builder.h"
#include "store/store.h"

namespace restd::store::sql {

// Binds one declared field's value. The one place a field's JSON value
// becomes its column value.
template <typename Binder>
void bindField(Binder& b, int i, const FieldSpec& f, const rapidjson::Value& v, std::vector<std::string>& scratch) {
  if (v.IsNull()) return b.null(i);
  switch (f.type) {
    case FieldType::string: return b.text(i, std::string_view(v.GetString(), v.GetStringLength()));
    case FieldType::integer: return b.integer(i, v.GetInt64());
    case FieldType::number: return v.IsInt64() ? b.integer(i, v.GetInt64()) : b.real(i, v.GetDouble());
    case FieldType::boolean: return b.integer(i, v.GetBool() ? 1 : 0);
    case FieldType::datetime: {
      auto ms = parseRfc3339Millis(std::string_view(v.GetString(), v.GetStringLength()));
      return ms ? b.integer(i, *ms) : b.null(i);
    }
    case FieldType::object:
    case FieldType::array:
      scratch.push_back(toJsonText(v));
      return b.text(i, scratch.back());
  }
}

// Binds every column of `r` in recordColumns() order from parameter 1.
// `scratch` holds JSON text written for object, array and _extra columns;
// it is cleared here and must outlive the statement's execution.
template <typename Binder>
void bindRecord(Binder& b, const CollectionSpec& c, const Record& r, std::vector<std::string>& scratch) {
  scratch.clear();
  scratch.reserve(c.fields.size() + 1);  // no reallocation: bound pointers stay valid
  int i = 1;
  b.text(i++, r.id);
  if (r.slug) b.text(i++, *r.slug);
  else b.null(i++);
  b.integer(i++, r.createdAt);
  b.integer(i++, r.updatedAt);
  b.integer(i++, r.version);
  b.text(i++, r.owner);
  static const rapidjson::Value kNull;
  for (const auto& f : c.fields) {
    auto it = r.values.FindMember(rapidjson::StringRef(f.name.data(), f.name.size()));
    bindField(b, i++, f, it == r.values.MemberEnd() ? kNull : it->value, scratch);
  }
  // Undeclared members (extra_fields = "allow") go to _extra as one JSON object.
  thread_local rapidjson::StringBuffer sb;
  sb.Clear();
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  bool any = false;
  for (auto& m : r.values.GetObject()) {
    if (c.field(std::string_view(m.name.GetString(), m.name.GetStringLength()))) continue;
    if (!any) w.StartObject();
    any = true;
    w.Key(m.name.GetString(), m.name.GetStringLength());
    m.value.Accept(w);
  }
  if (!any) return b.null(i);
  w.EndObject();
  scratch.emplace_back(sb.GetString(), sb.GetSize());
  b.text(i, scratch.back());
}


template <typename Row>
void readField(const FieldSpec& f, Row& row, int col, rapidjson::Value& out, rapidjson::Document::AllocatorType& a) {
  if (row.isNull(col)) return static_cast<void>(out.SetNull());
  switch (f.type) {
    case FieldType::string: {
      std::string_view t = row.text(col);
      out.SetString(t.data(), static_cast<rapidjson::SizeType>(t.size()), a);
      break;
    }
    case FieldType::integer: out.SetInt64(row.integer(col)); break;
    case FieldType::number:
      if (row.isInteger(col)) out.SetInt64(row.integer(col));
      else out.SetDouble(row.real(col));
      break;
    case FieldType::boolean: out.SetBool(row.integer(col) != 0); break;
    case FieldType::datetime: {
      std::string s = formatRfc3339Millis(row.integer(col));
      out.SetString(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
      break;
    }
    case FieldType::object:
    case FieldType::array: parseStoredJson(row.text(col), out, a); break;  // written by bindRecord
  }
}

// A row of recordColumns() into `r`.
template <typename Row>
void readRecord(const CollectionSpec& c, Row& row, Record& r) {
  r.id = row.text(0);
  if (!row.isNull(1)) r.slug = std::string(row.text(1));
  else r.slug.reset();
  r.createdAt = row.integer(2);
  r.updatedAt = row.integer(3);
  r.version = row.integer(4);
  r.owner = row.text(5);
  auto& a = r.values.GetAllocator();
  r.values.SetObject();
  int col = kFirstFieldColumn;
  for (const auto& f : c.fields) {
    rapidjson::Value v;
    readField(f, row, col++, v, a);
    // The name is the configuration's, which outlives every record: not copied.
    r.values.AddMember(rapidjson::StringRef(f.name.c_str(), f.name.size()), v, a);
  }
  if (!row.isNull(col)) {
    rapidjson::Value extra;
    parseStoredJson(row.text(col), extra, a);
    if (extra.IsObject())
      for (auto& m : extra.GetObject()) r.values.AddMember(m.name, m.value, a);
  }
}

}  // namespace restd::store::sql
