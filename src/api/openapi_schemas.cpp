// The schemas of records, their inputs and the standard profile's replies.
#include "api/openapi_parts.h"

namespace restd::api::openapi {

std::string upperFirst(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// "things" -> "Thing", "blog_posts" -> "BlogPost": schema names.
std::string typeName(const CollectionSpec& c) {
  std::string out;
  bool up = true;
  for (char ch : c.singular) {
    if (ch == '_' || ch == '-') {
      up = true;
      continue;
    }
    out += up && ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 'a' + 'A') : ch;
    up = false;
  }
  return out.empty() ? upperFirst(c.name) : out;
}

// One declared field's schema. `nullable`: null is a valid value too (an
// optional field reads back as null when it was never given).
Value fieldSchema(Builder& b, const FieldSpec& f, bool nullable) {
  Value s = Builder::object();
  std::string_view type;
  switch (f.type) {
    case FieldType::string: type = "string"; break;
    case FieldType::integer: type = "integer"; break;
    case FieldType::number: type = "number"; break;
    case FieldType::boolean: type = "boolean"; break;
    case FieldType::datetime: type = "string"; break;
    case FieldType::object: type = "object"; break;
    case FieldType::array: type = "array"; break;
  }
  if (nullable) {
    Value types = Builder::array();
    b.push(types, type);
    b.push(types, "null");
    b.set(s, "type", std::move(types));
  } else {
    b.set(s, "type", type);
  }
  if (f.type == FieldType::datetime) b.set(s, "format", "date-time");
  if (!f.enumJson.empty()) {
    Value values = Builder::array();
    for (const auto& e : f.enumJson) b.push(values, b.parsed(e));
    if (nullable) values.PushBack(Value(), b.allocator());
    b.set(s, "enum", std::move(values));
  }
  if (f.min) b.set(s, "minimum", b.number(*f.min));
  if (f.max) b.set(s, "maximum", b.number(*f.max));
  const bool isArray = f.type == FieldType::array;
  if (f.minLength) b.set(s, isArray ? "minItems" : "minLength", *f.minLength);
  if (f.maxLength) b.set(s, isArray ? "maxItems" : "maxLength", *f.maxLength);
  if (f.pattern) b.set(s, "pattern", *f.pattern);
  if (f.defaultJson) b.set(s, "default", b.parsed(*f.defaultJson));
  if (f.readOnly) b.set(s, "readOnly", true);
  std::string about = std::string(fieldTypeName(f.type));
  if (f.required) about += ", required";
  if (f.unique) about += ", unique";
  if (f.readOnly) about += ", read-only (written only through its default)";
  b.set(s, "description", about);
  return s;
}

Value systemField(Builder& b, std::string_view type, std::string_view format, std::string_view description) {
  Value s = Builder::object();
  b.set(s, "type", type);
  if (!format.empty()) b.set(s, "format", format);
  b.set(s, "readOnly", true);
  b.set(s, "description", description);
  return s;
}

// The record as replies carry it: system fields and declared fields. No
// field is required, since `fields=` may leave any out.
Value recordSchema(Builder& b, const CollectionSpec& c) {
  Value props = Builder::object();
  Value id = systemField(b, "string", "", "The record's id (a TypeID with prefix \"" + c.idPrefix + "\").");
  b.set(id, "pattern", "^" + c.idPrefix + "_[0-9a-z]{26}$");
  b.set(props, "id", std::move(id));
  if (c.slugFrom)
    b.set(props, "slug", systemField(b, "string", "", "Made from \"" + *c.slugFrom + "\"; unique" +
                                                         (c.visibility == Visibility::owner ? " per owner." : ".")));
  for (const auto& f : c.fields) b.set(props, f.name, fieldSchema(b, f, !f.required));
  b.set(props, "createdAt", systemField(b, "string", "date-time", "When the record was created."));
  b.set(props, "updatedAt", systemField(b, "string", "date-time", "When the record last changed."));
  Value version = systemField(b, "integer", "", "Grows by one with every change.");
  b.set(version, "minimum", int64_t(1));
  b.set(props, "version", std::move(version));
  b.set(props, "owner", systemField(b, "string", "", "The id of the user who created it."));
  Value s = Builder::object();
  b.set(s, "type", "object");
  b.set(s, "properties", std::move(props));
  b.set(s, "additionalProperties", c.extraFields == ExtraFields::allow);
  return s;
}

// What a client writes: the declared fields it may set. `forCreate` lists
// the required ones; `withId` adds the `id` a PATCH-many item names.
Value inputSchema(Builder& b, const CollectionSpec& c, bool forCreate, bool withId) {
  Value props = Builder::object();
  Value required = Builder::array();
  if (withId) {
    Value id = Builder::object();
    b.set(id, "type", "string");
    b.set(id, "description", "The record to change.");
    b.set(props, "id", std::move(id));
    b.push(required, "id");
  }
  for (const auto& f : c.fields) {
    if (f.readOnly) continue;
    b.set(props, f.name, fieldSchema(b, f, !f.required));
    if (forCreate && f.required) b.push(required, f.name);
  }
  Value s = Builder::object();
  b.set(s, "type", "object");
  b.set(s, "properties", std::move(props));
  if (!required.Empty()) b.set(s, "required", std::move(required));
  b.set(s, "additionalProperties", c.extraFields == ExtraFields::allow);
  return s;
}

// {data, meta} (and pagination or failures) around `data`.
Value replySchema(Builder& b, Value data, bool pagination, bool failures) {
  Value props = Builder::object();
  b.set(props, "data", std::move(data));
  if (pagination) b.set(props, "pagination", b.schemaRef("Pagination"));
  if (failures) {
    Value list = Builder::object();
    b.set(list, "type", "array");
    b.set(list, "items", b.schemaRef("BatchFailure"));
    b.set(props, "failures", std::move(list));
  }
  b.set(props, "meta", b.schemaRef("Meta"));
  Value required = Builder::array();
  b.push(required, "data");
  if (pagination) b.push(required, "pagination");
  b.push(required, "meta");
  Value s = Builder::object();
  b.set(s, "type", "object");
  b.set(s, "required", std::move(required));
  b.set(s, "additionalProperties", false);
  b.set(s, "properties", std::move(props));
  return s;
}

Value arrayOf(Builder& b, Value items) {
  Value s = Builder::object();
  b.set(s, "type", "array");
  b.set(s, "items", std::move(items));
  return s;
}

Value jsonContent(Builder& b, Value schema) {
  Value media = Builder::object();
  b.set(media, "schema", std::move(schema));
  Value content = Builder::object();
  b.set(content, "application/json", std::move(media));
  return content;
}

}  // namespace restd::api::openapi
