// The OpenAPI generator's parts (openapi.h renders the document): the JSON
// builder, the schemas of records and replies, and the Generator, whose
// document-wide parts are in openapi.cpp and whose paths are in
// openapi_paths.cpp. The text of the components that do not depend on the
// config is in openapi_shared.cpp. Private to api/.
#pragma once

#include <rapidjson/document.h>

#include <cmath>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/config.h"

namespace restd::api::openapi {

using rapidjson::Value;
using Allocator = rapidjson::Document::AllocatorType;

// Schemas and parameters that do not depend on the config (JSON text).
extern const char* const kShared;

class Builder {
 public:
  explicit Builder(Allocator& a) : a_(a) {}
  Value str(std::string_view s) { return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a_); }
  static Value object() { return Value(rapidjson::kObjectType); }
  static Value array() { return Value(rapidjson::kArrayType); }
  Value& set(Value& o, std::string_view key, Value v) {
    o.AddMember(str(key), v, a_);
    return o;
  }
  Value& set(Value& o, std::string_view key, std::string_view text) { return set(o, key, str(text)); }
  Value& set(Value& o, std::string_view key, const char* text) { return set(o, key, str(text)); }
  Value& set(Value& o, std::string_view key, bool b) { return set(o, key, Value(b)); }
  Value& set(Value& o, std::string_view key, int64_t n) { return set(o, key, Value(n)); }
  Value& push(Value& arr, Value v) { return arr.PushBack(v, a_); }
  Value& push(Value& arr, std::string_view text) { return push(arr, str(text)); }
  Value ref(std::string_view kind, std::string_view name) {
    Value o = object();
    set(o, "$ref", "#/components/" + std::string(kind) + "/" + std::string(name));
    return o;
  }
  Value schemaRef(std::string_view name) { return ref("schemas", name); }
  // JSON text (a default or an enum value from the config) as a value.
  Value parsed(std::string_view json) {
    rapidjson::Document d(&a_);
    d.Parse(json.data(), json.size());
    Value v;
    if (!d.HasParseError()) v.CopyFrom(d, a_);
    return v;
  }
  // A bound: an integer when it is one, so 1000 is not written as 1000.0.
  Value number(double d) {
    if (std::floor(d) == d && std::fabs(d) < 9.0e15) return Value(static_cast<int64_t>(d));
    return Value(d);
  }
  Allocator& allocator() { return a_; }

 private:
  Allocator& a_;
};

std::string upperFirst(std::string s);

// "things" -> "Thing", "blog_posts" -> "BlogPost": schema names.
std::string typeName(const CollectionSpec& c);

// One declared field's schema. `nullable`: null is a valid value too (an
// optional field reads back as null when it was never given).
Value fieldSchema(Builder& b, const FieldSpec& f, bool nullable);

Value systemField(Builder& b, std::string_view type, std::string_view format, std::string_view description);

// The record as replies carry it: system fields and declared fields. No
// field is required, since `fields=` may leave any out.
Value recordSchema(Builder& b, const CollectionSpec& c);

// What a client writes: the declared fields it may set. `forCreate` lists
// the required ones; `withId` adds the `id` a PATCH-many item names.
Value inputSchema(Builder& b, const CollectionSpec& c, bool forCreate, bool withId);

// {data, meta} (and pagination or failures) around `data`.
Value replySchema(Builder& b, Value data, bool pagination, bool failures);

Value arrayOf(Builder& b, Value items);

Value jsonContent(Builder& b, Value schema);

class Generator {
 public:
  Generator(const Config& config, rapidjson::Document& doc) : config_(config), doc_(doc), b_(doc.GetAllocator()) {}

  void run();

 private:
  void info();

  void components();

  void tags();

  // [{bearer}, {access_token}, {basic}], and {} first when anonymous calls work.
  Value security(bool anonymous);

  Value param(std::string_view name) { return b_.ref("parameters", name); }

  Value inlineParam(const std::string& name, std::string_view in, Value schema, const std::string& description,
                    bool required = false);

  // One success of an operation: its status and its response object.
  struct Success {
    int status;
    Value response;
  };

  // The responses of an operation: its success, a 207 when some items of a
  // batch may fail (`partial`), 304 when `conditional`, then one per error
  // status.
  Value responses(Success ok, std::initializer_list<int> errors, bool conditional = false,
                  std::optional<Success> partial = std::nullopt);

  Success okResponse(int status, const std::string& description, Value schema,
                     std::initializer_list<const char*> headers = {});

  Value operation(const std::string& tag, const std::string& id, const std::string& summary,
                  const std::string& description, Value params, Value security, Value responses);

  void withBody(Value& op, Value content, bool required = true);

  // A request body as JSON, a form, and on PATCH a merge patch.
  Value writeContent(const Value& schema, bool mergePatch);

  Value profileParams();

  // Filters of one list: FIELD, FIELD[op] for each filterable field.
  void filterParams(const CollectionSpec& c, Value& list);

  void paths();

  // {base}/NAME: list, create, patch and delete many.
  void collectionPaths(const CollectionSpec& c, Value& paths);
  // {base}/NAME/events: the change feed.
  void eventsPath(const CollectionSpec& c, Value& paths);
  // {base}/NAME/{id}: one record.
  void recordPaths(const CollectionSpec& c, Value& paths);

  const Config& config_;
  rapidjson::Document& doc_;
  Builder b_;
  std::map<int, std::string> statuses_;
  std::set<int> used_;  // the statuses some operation can answer
};

}  // namespace restd::api::openapi
