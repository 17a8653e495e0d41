// The OpenAPI 3.1 document (openapi.h). What every collection shares is
// written once as JSON text below and parsed; what depends on the config
// (paths, record schemas, security schemes) is built around it. Statuses
// and their reasons come from the error table (common/error.h), so the
// document lists exactly the errors the server can send.
#include "api/openapi.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "common/error.h"
#include "render/profile.h"

namespace restd::api {
namespace {

using rapidjson::Value;
using Allocator = rapidjson::Document::AllocatorType;

// Schemas and parameters that do not depend on the config.
constexpr const char* kShared = R"json({
  "schemas": {
    "Error": {
      "type": "object",
      "description": "One error (SPEC §8). `reason` is stable; `message` is for people.",
      "required": ["type", "code", "reason", "message", "info"],
      "additionalProperties": false,
      "properties": {
        "type": {"type": "string", "enum": ["syntax", "permission", "client", "content", "validation", "system"]},
        "code": {"type": "integer", "minimum": 400, "maximum": 599},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "description": {"type": "string"},
        "field": {"type": "string", "description": "The field the error is about (dotted for nested fields)."},
        "details": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}},
        "info": {"type": "string", "description": "A link to the reason's entry in the error reference."}
      }
    },
    "BatchFailure": {
      "type": "object",
      "required": ["index", "rawData", "errors"],
      "additionalProperties": false,
      "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "The item's position in the request."},
        "rawData": {"description": "The item as the server understood it."},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/Error"}}
      }
    },
    "RateLimit": {
      "type": "object",
      "required": ["limit", "remaining", "reset"],
      "additionalProperties": false,
      "properties": {
        "limit": {"type": "integer", "minimum": 0},
        "remaining": {"type": "integer", "minimum": 0},
        "reset": {"type": "integer", "minimum": 0, "description": "Seconds until the bucket is full again."}
      }
    },
    "Meta": {
      "type": "object",
      "required": ["requestId", "date"],
      "additionalProperties": false,
      "properties": {
        "requestId": {"type": "string"},
        "date": {"type": "string", "format": "date-time"},
        "message": {"type": "string"},
        "rateLimit": {"$ref": "#/components/schemas/RateLimit"},
        "receivedItemsCount": {"type": "integer", "minimum": 0},
        "validItems": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "invalidItems": {"type": "array", "items": {"type": "integer", "minimum": 0}}
      }
    },
    "Pagination": {
      "type": "object",
      "required": ["recordsPerPage"],
      "additionalProperties": false,
      "properties": {
        "page": {"type": "integer", "minimum": 1},
        "pagesCount": {"type": "integer", "minimum": 0},
        "recordsPerPage": {"type": "integer", "minimum": 1, "maximum": 100},
        "recordsCount": {"type": "integer", "minimum": 0, "description": "Absent with count=false and in cursor mode."},
        "nextCursor": {"type": "string", "description": "In cursor mode, the cursor of the next page; absent on the last."}
      }
    },
    "ErrorReply": {
      "type": "object",
      "required": ["error", "meta"],
      "additionalProperties": false,
      "properties": {
        "error": {"$ref": "#/components/schemas/Error"},
        "failures": {"type": "array", "items": {"$ref": "#/components/schemas/BatchFailure"}},
        "meta": {"$ref": "#/components/schemas/Meta"}
      }
    },
    "Deleted": {
      "type": "object",
      "required": ["id", "deleted"],
      "additionalProperties": false,
      "properties": {"id": {"type": "string"}, "deleted": {"const": true}}
    },
    "Credentials": {
      "type": "object",
      "required": ["userName", "apiKey", "password"],
      "properties": {
        "userName": {"type": "string"},
        "apiKey": {"type": "string"},
        "password": {"type": "string", "format": "password"}
      }
    },
    "Token": {
      "type": "object",
      "required": ["access_token", "expires", "token_type"],
      "additionalProperties": false,
      "properties": {
        "access_token": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
        "expires": {"type": "string", "format": "date-time"},
        "token_type": {"const": "Bearer"}
      }
    },
    "Me": {
      "type": "object",
      "required": ["logged_in", "statusMessage"],
      "additionalProperties": false,
      "properties": {
        "logged_in": {"type": "boolean"},
        "statusMessage": {"type": "string"},
        "user": {
          "type": "object",
          "required": ["id", "userName", "role"],
          "additionalProperties": false,
          "properties": {
            "id": {"type": "string"},
            "userName": {"type": "string"},
            "role": {"type": "string", "enum": ["admin", "writer", "reader"]}
          }
        }
      }
    },
    "Account": {
      "type": "object",
      "required": ["id", "userName", "role", "createdAt"],
      "additionalProperties": false,
      "properties": {
        "id": {"type": "string"},
        "userName": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "writer", "reader"]},
        "createdAt": {"type": "string", "format": "date-time"}
      }
    },
    "ApiKeyInfo": {
      "type": "object",
      "required": ["label", "prefix", "createdAt"],
      "additionalProperties": false,
      "properties": {
        "label": {"type": "string"},
        "prefix": {"type": "string", "description": "The key's first characters, to tell keys apart."},
        "createdAt": {"type": "string", "format": "date-time"}
      }
    },
    "Index": {
      "type": "object",
      "required": ["name", "version", "collections", "links"],
      "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "collections": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["name", "singular", "url", "fields"],
            "properties": {
              "name": {"type": "string"},
              "singular": {"type": "string"},
              "url": {"type": "string"},
              "fields": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": ["name", "type", "required"],
                  "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "required": {"type": "boolean"}}
                }
              }
            }
          }
        },
        "links": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    }
  },
  "parameters": {
    "page": {
      "name": "page",
      "in": "query",
      "description": "The page, from 1.",
      "schema": {"type": "integer", "minimum": 1, "maximum": 1000000000000, "default": 1}
    },
    "per_page": {
      "name": "per_page",
      "in": "query",
      "description": "Records per page.",
      "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    },
    "cursor": {
      "name": "cursor",
      "in": "query",
      "description": "Keyset paging: empty for the first page, then the reply's `pagination.nextCursor`. Not with `page`.",
      "schema": {"type": "string"}
    },
    "count": {
      "name": "count",
      "in": "query",
      "description": "`false` skips the total (`recordsCount`, `pagesCount`, `X-Total-Count`).",
      "schema": {"type": "boolean", "default": true}
    },
    "envelope": {
      "name": "envelope",
      "in": "query",
      "description": "The envelope profile of the reply (see Envelope profiles above); this document's schemas describe `standard`.",
      "schema": {"type": "string"}
    },
    "X-Envelope": {
      "name": "X-Envelope",
      "in": "header",
      "description": "The envelope profile of the reply, as the `envelope` parameter.",
      "schema": {"type": "string"}
    },
    "Idempotency-Key": {
      "name": "Idempotency-Key",
      "in": "header",
      "description": "A retry with the same key and body within 24 hours gets the first reply again (`Idempotent-Replayed: true`) instead of writing twice.",
      "schema": {"type": "string", "maxLength": 255}
    },
    "If-Match": {
      "name": "If-Match",
      "in": "header",
      "description": "Write only if the record still has this entity tag (412 otherwise).",
      "schema": {"type": "string"}
    },
    "If-None-Match": {
      "name": "If-None-Match",
      "in": "header",
      "description": "304 when the representation still has one of these entity tags.",
      "schema": {"type": "string"}
    },
    "atomic": {
      "name": "atomic",
      "in": "query",
      "description": "`false`: save the valid items of a batch and report the others (207).",
      "schema": {"type": "boolean", "default": true}
    },
    "ids": {
      "name": "ids",
      "in": "query",
      "description": "Comma-separated ids to delete, instead of a body.",
      "schema": {"type": "string"}
    },
    "Last-Event-ID": {
      "name": "Last-Event-ID",
      "in": "header",
      "description": "Resume after this event id.",
      "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"}
    }
  },
  "headers": {
    "ETag": {"description": "The representation's strong entity tag.", "schema": {"type": "string"}},
    "Last-Modified": {"description": "When the record last changed.", "schema": {"type": "string"}},
    "Link": {"description": "first, prev, next and last pages (RFC 8288).", "schema": {"type": "string"}},
    "X-Total-Count": {
      "description": "How many records match (absent with count=false and in cursor mode).",
      "schema": {"type": "integer"}
    },
    "Location": {"description": "The new record's URL.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
  }
})json";

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

class Generator {
 public:
  Generator(const Config& config, rapidjson::Document& doc) : config_(config), doc_(doc), b_(doc.GetAllocator()) {}

  void run() {
    doc_.SetObject();
    b_.set(doc_, "openapi", "3.1.0");
    info();
    Value servers = Builder::array();
    Value server = Builder::object();
    b_.set(server, "url", config_.server.basePath.empty() ? std::string("/") : config_.server.basePath);
    b_.set(server, "description", "This server");
    b_.push(servers, std::move(server));
    b_.set(doc_, "servers", std::move(servers));
    components();
    tags();
    paths();
    // Statuses only the HTTP layer sends (408, 414, 431, ...) belong to no
    // operation: the description names them instead of unused components.
    Value& responses = doc_["components"]["responses"];
    for (auto it = responses.MemberBegin(); it != responses.MemberEnd();) {
      if (used_.count(std::atoi(it->name.GetString()))) ++it;
      else it = responses.EraseMember(it);
    }
  }

 private:
  void info() {
    Value info = Builder::object();
    b_.set(info, "title", "restd API");
    b_.set(info, "version", RESTD_VERSION);
    b_.set(info, "summary", "The collections this server's configuration declares, with token authentication.");
    b_.set(info, "description", R"md(Generated by restd from this server's configuration, so it always matches what the server does.

**Signing in.** `POST /authenticate` with `userName`, `apiKey` and `password` (a form or JSON) returns an `access_token`. Send it as `Authorization: Bearer TOKEN` (here: press **Authorize**), as the `access_token` query parameter, or use Basic authentication where the server allows it. The token stays in this page's memory.

**Formats.** Replies are JSON; `Accept: application/xml` or a `.xml` suffix on any path gives XML, and `?pretty` indents either.

**Envelope profiles.** The reply schemas in this document describe the `standard` profile. `X-Envelope: NAME` or `envelope=NAME` (or the server's `server.envelope`) lays out the same data as one of the APIs restd descends from:

- `standard`: `{data, pagination, meta}`, errors `{error, meta}` (restd's own)
- `problem`: as `standard`, errors as RFC 9457 problem details (`application/problem+json`)
- `request-result`: `{response: {request, result}}` (seed 000)
- `success-flag`: bare GETs, `{success, statusMessage, ...}` for the rest (seed 001)
- `plain`: the bare record or array, errors `{code, message}` (seed 002)
- `data-meta`: `{data, meta, pagination}` (seed 003)
- `result-metadata`: `{result, metadata, failures}` (seed 004)

**Errors.** Every error carries a stable `reason`; the [error reference](/docs/errors) explains each one. Any request may also be refused by the HTTP layer before it reaches an operation: 408 `request_timeout`, 411 `length_required`, 413 `payload_too_large`, 414 `uri_too_long`, 417 `expectation_failed`, 431 `headers_too_large`, 501 `not_implemented`, 505 `http_version_not_supported`, 503 `overloaded` or `maintenance`.)md");
    Value license = Builder::object();
    b_.set(license, "name", "Terms set by this server's operator");
    b_.set(license, "identifier", "LicenseRef-operator");
    b_.set(info, "license", std::move(license));
    b_.set(doc_, "info", std::move(info));
  }

  void components() {
    rapidjson::Document shared(&doc_.GetAllocator());
    shared.Parse(kShared);
    if (shared.HasParseError()) {  // a mistake in the text above: every test that starts a server sees it
      std::fprintf(stderr, "restd: internal error: the OpenAPI schemas do not parse (offset %zu)\n",
                   static_cast<size_t>(shared.GetErrorOffset()));
      std::abort();
    }
    Value comps;
    comps.CopyFrom(shared, doc_.GetAllocator());
    // The reasons the server can send, for the Error schema.
    Value reasons = Builder::array();
    for (const auto& r : allReasons()) b_.push(reasons, r.name);
    comps["schemas"]["Error"]["properties"]["reason"].AddMember("enum", reasons, doc_.GetAllocator());
    for (const char* p : {"envelope", "X-Envelope"}) {
      Value names = Builder::array();
      for (std::string_view n : render::profileNames()) b_.push(names, n);
      comps["parameters"][p]["schema"].AddMember("enum", names, doc_.GetAllocator());
    }
    // One response per error status, naming its reasons.
    std::map<int, std::string> byStatus;
    for (const auto& r : allReasons()) {
      std::string& list = byStatus[r.status];
      list += (list.empty() ? "" : ", ") + std::string("`") + std::string(r.name) + "`";
    }
    Value responses = Builder::object();
    for (const auto& [status, list] : byStatus) {
      Value response = Builder::object();
      b_.set(response, "description", std::string(statusPhrase(status)) + ": " + list + ".");
      if (status == 429 || status == 503) {
        Value headers = Builder::object();
        b_.set(headers, "Retry-After", b_.ref("headers", "Retry-After"));
        b_.set(response, "headers", std::move(headers));
      }
      b_.set(response, "content", jsonContent(b_, b_.schemaRef("ErrorReply")));
      b_.set(responses, std::to_string(status), std::move(response));
    }
    Value notModified = Builder::object();
    b_.set(notModified, "description", "Not Modified: the representation still has the entity tag given.");
    b_.set(responses, "304", std::move(notModified));
    b_.set(comps, "responses", std::move(responses));
    statuses_ = byStatus;
    // Security schemes.
    Value schemes = Builder::object();
    Value bearer = Builder::object();
    b_.set(bearer, "type", "http");
    b_.set(bearer, "scheme", "bearer");
    b_.set(bearer, "description", "A token from POST /authenticate, as `Authorization: Bearer TOKEN`.");
    b_.set(schemes, "bearer", std::move(bearer));
    Value query = Builder::object();
    b_.set(query, "type", "apiKey");
    b_.set(query, "in", "query");
    b_.set(query, "name", "access_token");
    b_.set(query, "description", "The same token as the `access_token` query parameter (or form field).");
    b_.set(schemes, "access_token", std::move(query));
    if (config_.auth.basic) {
      Value basic = Builder::object();
      b_.set(basic, "type", "http");
      b_.set(basic, "scheme", "basic");
      b_.set(basic, "description", "userName and password, without a token (`auth.basic`).");
      b_.set(schemes, "basic", std::move(basic));
    }
    b_.set(comps, "securitySchemes", std::move(schemes));
    // Per collection: the record, what clients write, and the replies.
    Value& schemas = comps["schemas"];
    // The {data, meta} replies of the shared data schemas.
    for (const char* name : {"Token", "Me", "Index", "Deleted"})
      b_.set(schemas, std::string(name) + "Reply", replySchema(b_, b_.schemaRef(name), false, false));
    b_.set(schemas, "DeletedBatchReply", replySchema(b_, arrayOf(b_, b_.schemaRef("Deleted")), false, true));
    b_.set(schemas, "AccountsReply", replySchema(b_, arrayOf(b_, b_.schemaRef("Account")), false, false));
    b_.set(schemas, "ApiKeysReply", replySchema(b_, arrayOf(b_, b_.schemaRef("ApiKeyInfo")), false, false));
    for (const auto& c : config_.collections) {
      std::string t = typeName(c);
      b_.set(schemas, t, recordSchema(b_, c));
      b_.set(schemas, t + "Create", inputSchema(b_, c, true, false));
      b_.set(schemas, t + "Patch", inputSchema(b_, c, false, false));
      b_.set(schemas, t + "PatchItem", inputSchema(b_, c, false, true));
      b_.set(schemas, t + "Reply", replySchema(b_, b_.schemaRef(t), false, false));
      b_.set(schemas, t + "ListReply", replySchema(b_, arrayOf(b_, b_.schemaRef(t)), true, false));
      b_.set(schemas, t + "BatchReply", replySchema(b_, arrayOf(b_, b_.schemaRef(t)), false, true));
    }
    b_.set(doc_, "components", std::move(comps));
  }

  void tags() {
    Value tags = Builder::array();
    auto tag = [&](const std::string& name, const std::string& description) {
      Value t = Builder::object();
      b_.set(t, "name", name);
      b_.set(t, "description", description);
      b_.push(tags, std::move(t));
    };
    tag("auth", "Tokens: sign in, who am I, sign out.");
    tag("server", "The index and this document.");
    tag("accounts", "Users and API keys, read-only, for admins.");
    for (const auto& c : config_.collections)
      tag(c.name, "The " + c.name + " collection" +
                      (c.visibility == Visibility::owner ? " (each user sees only their own records)." : "."));
    b_.set(doc_, "tags", std::move(tags));
  }

  // [{bearer}, {access_token}, {basic}], and {} first when anonymous calls work.
  Value security(bool anonymous) {
    Value list = Builder::array();
    if (anonymous) b_.push(list, Builder::object());
    for (const char* scheme : {"bearer", "access_token", "basic"}) {
      if (std::string_view(scheme) == "basic" && !config_.auth.basic) continue;
      Value s = Builder::object();
      b_.set(s, scheme, Builder::array());
      b_.push(list, std::move(s));
    }
    return list;
  }

  Value param(std::string_view name) { return b_.ref("parameters", name); }

  Value inlineParam(const std::string& name, std::string_view in, Value schema, const std::string& description,
                    bool required = false) {
    Value p = Builder::object();
    b_.set(p, "name", name);
    b_.set(p, "in", in);
    if (required) b_.set(p, "required", true);
    b_.set(p, "description", description);
    b_.set(p, "schema", std::move(schema));
    return p;
  }

  // One success of an operation: its status and its response object.
  struct Success {
    int status;
    Value response;
  };

  // The responses of an operation: its success, a 207 when some items of a
  // batch may fail (`partial`), 304 when `conditional`, then one per error
  // status.
  Value responses(Success ok, std::initializer_list<int> errors, bool conditional = false,
                  std::optional<Success> partial = std::nullopt) {
    Value r = Builder::object();
    b_.set(r, std::to_string(ok.status), std::move(ok.response));
    if (partial) b_.set(r, std::to_string(partial->status), std::move(partial->response));
    if (conditional) {
      b_.set(r, "304", b_.ref("responses", "304"));
      used_.insert(304);
    }
    for (int status : errors)
      if (statuses_.count(status)) {
        b_.set(r, std::to_string(status), b_.ref("responses", std::to_string(status)));
        used_.insert(status);
      }
    return r;
  }

  Success okResponse(int status, const std::string& description, Value schema,
                     std::initializer_list<const char*> headers = {}) {
    Value ok = Builder::object();
    b_.set(ok, "description", description);
    if (headers.size()) {
      Value h = Builder::object();
      for (const char* name : headers) b_.set(h, name, b_.ref("headers", name));
      b_.set(ok, "headers", std::move(h));
    }
    b_.set(ok, "content", jsonContent(b_, std::move(schema)));
    return {status, std::move(ok)};
  }

  Value operation(const std::string& tag, const std::string& id, const std::string& summary,
                  const std::string& description, Value params, Value security, Value responses) {
    Value op = Builder::object();
    Value tags = Builder::array();
    b_.push(tags, tag);
    b_.set(op, "tags", std::move(tags));
    b_.set(op, "operationId", id);
    b_.set(op, "summary", summary);
    if (!description.empty()) b_.set(op, "description", description);
    if (!params.Empty()) b_.set(op, "parameters", std::move(params));
    b_.set(op, "security", std::move(security));
    b_.set(op, "responses", std::move(responses));
    return op;
  }

  void withBody(Value& op, Value content, bool required = true) {
    Value body = Builder::object();
    b_.set(body, "required", required);
    b_.set(body, "content", std::move(content));
    op.AddMember("requestBody", body, doc_.GetAllocator());
  }

  // A request body as JSON, a form, and on PATCH a merge patch.
  Value writeContent(const Value& schema, bool mergePatch) {
    Value content = Builder::object();
    auto add = [&](std::string_view type) {
      Value media = Builder::object();
      Value copy(schema, doc_.GetAllocator());
      b_.set(media, "schema", std::move(copy));
      b_.set(content, type, std::move(media));
    };
    add("application/json");
    if (mergePatch) add("application/merge-patch+json");
    if (schema.HasMember("$ref")) add("application/x-www-form-urlencoded");  // one record: a form is the flat object
    return content;
  }

  Value profileParams() {
    Value list = Builder::array();
    b_.push(list, param("envelope"));
    b_.push(list, param("X-Envelope"));
    return list;
  }

  // Filters of one list: FIELD, FIELD[op] for each filterable field.
  void filterParams(const CollectionSpec& c, Value& list) {
    struct Filterable {
      std::string name;
      Value schema;
      bool text;
    };
    std::vector<Filterable> fields;
    auto plain = [&](std::string_view type, std::string_view format) {
      Value s = Builder::object();
      b_.set(s, "type", type);
      if (!format.empty()) b_.set(s, "format", format);
      return s;
    };
    fields.push_back({"id", plain("string", ""), true});
    if (c.slugFrom) fields.push_back({"slug", plain("string", ""), true});
    for (const auto& f : c.fields) {
      if (f.type == FieldType::object || f.type == FieldType::array) continue;
      Value s = fieldSchema(b_, f, false);
      s.RemoveMember("default");
      s.RemoveMember("readOnly");
      s.RemoveMember("description");
      fields.push_back({f.name, std::move(s), f.type == FieldType::string});
    }
    fields.push_back({"createdAt", plain("string", "date-time"), false});
    fields.push_back({"updatedAt", plain("string", "date-time"), false});
    fields.push_back({"version", plain("integer", ""), false});
    fields.push_back({"owner", plain("string", ""), true});
    for (auto& f : fields) {
      for (std::string op : {"", "eq", "ne", "gt", "gte", "lt", "lte", "in", "like"}) {
        if (op == "like" && !f.text) continue;
        Value schema;
        std::string what;
        if (op == "in") {
          schema = plain("string", "");
          what = "One of these comma-separated values.";
        } else if (op == "like") {
          schema = plain("string", "");
          what = "Matches with `*` as the wildcard, case-insensitive for ASCII letters.";
        } else {
          schema.CopyFrom(f.schema, doc_.GetAllocator());
          what = op.empty() || op == "eq" ? "Equal to." : op == "ne" ? "Not equal to." : op == "gt" ? "Greater than."
                 : op == "gte" ? "At least." : op == "lt" ? "Less than." : "At most.";
        }
        b_.push(list, inlineParam(op.empty() ? f.name : f.name + "[" + op + "]", "query", std::move(schema),
                                  "Filter on `" + f.name + "`: " + what));
      }
    }
  }

  void paths() {
    Value paths = Builder::object();
    const std::initializer_list<int> always = {400, 406, 500, 502, 503};
    // The index and this document.
    {
      Value item = Builder::object();
      b_.set(item, "get", operation("server", "getIndex", "The collections and links", "", profileParams(),
                                    Builder::array(), responses(okResponse(200, "The index.", b_.schemaRef("IndexReply")), always)));
      b_.set(paths, "/", std::move(item));
      Value doc = Builder::object();
      Value ok = Builder::object();
      b_.set(ok, "description", "This document.");
      Value any = Builder::object();
      b_.set(any, "type", "object");
      b_.set(ok, "content", jsonContent(b_, std::move(any)));
      b_.set(doc, "get", operation("server", "getOpenApi", "This OpenAPI document", "", Builder::array(),
                                   Builder::array(), responses({200, std::move(ok)}, {404, 406, 500})));
      b_.set(paths, "/openapi.json", std::move(doc));
    }
    // Authentication.
    {
      Value item = Builder::object();
      Value op = operation("auth", "authenticate", "Get an access token",
                           "A wrong user name, API key or password all give the same 401. Repeated failures for one "
                           "user name or client address give 429 before any password is checked.",
                           profileParams(), Builder::array(),
                           responses(okResponse(200, "A new token.", b_.schemaRef("TokenReply")),
                                     {400, 401, 406, 413, 415, 429, 500, 502, 503}));
      Value content = Builder::object();
      Value form = Builder::object();
      b_.set(form, "schema", b_.schemaRef("Credentials"));
      b_.set(content, "application/x-www-form-urlencoded", std::move(form));
      Value json = Builder::object();
      b_.set(json, "schema", b_.schemaRef("Credentials"));
      b_.set(content, "application/json", std::move(json));
      withBody(op, std::move(content));
      b_.set(item, "post", std::move(op));
      b_.set(paths, "/authenticate", std::move(item));

      Value me = Builder::object();
      b_.set(me, "get", operation("auth", "getMe", "Who am I", "Works without a token (`logged_in: false`).",
                                  profileParams(), security(true),
                                  responses(okResponse(200, "The caller.", b_.schemaRef("MeReply")), always)));
      b_.set(paths, "/me", std::move(me));
      Value logout = Builder::object();
      b_.set(logout, "post", operation("auth", "logout", "Revoke the token used", "", profileParams(), security(false),
                                       responses(okResponse(200, "Signed out.", b_.schemaRef("MeReply")),
                                                 {400, 401, 406, 429, 500, 502, 503})));
      b_.set(paths, "/logout", std::move(logout));
    }
    // Accounts, read-only, for admins (users and keys are managed with the CLI).
    for (auto [path, id, what, schema] : {std::tuple{"/_users", "listUsers", "The users (never a password hash)", "AccountsReply"},
                                          std::tuple{"/_apikeys", "listApiKeys", "The API keys not revoked (never a key)", "ApiKeysReply"}}) {
      Value item = Builder::object();
      b_.set(item, "get", operation("accounts", id, what, "Admins only; manage accounts with `restd user` and `restd apikey`.",
                                    profileParams(), security(false),
                                    responses(okResponse(200, std::string(what) + ".", b_.schemaRef(schema)),
                                              {400, 401, 403, 406, 429, 500, 502, 503})));
      b_.set(paths, path, std::move(item));
    }
    for (const auto& c : config_.collections) collectionPaths(c, paths);
    b_.set(doc_, "paths", std::move(paths));
  }

  void collectionPaths(const CollectionSpec& c, Value& paths) {
    const std::string t = typeName(c);
    const std::string one = c.singular;
    const bool anonymous = c.anonymousRead;
    const std::string base = "/" + c.name;
    // The list.
    Value list = Builder::object();
    {
      Value params = Builder::array();
      for (const char* p : {"page", "per_page", "cursor", "count"}) b_.push(params, param(p));
      b_.push(params, inlineParam("sort", "query", [&] {
        Value s = Builder::object();
        b_.set(s, "type", "string");
        return s;
      }(), "Comma-separated fields, `-` before one for descending, e.g. `sort=-createdAt,id`."));
      b_.push(params, inlineParam("fields", "query", [&] {
        Value s = Builder::object();
        b_.set(s, "type", "string");
        return s;
      }(), "Comma-separated fields to return (sparse fieldsets)."));
      filterParams(c, params);
      b_.push(params, param("If-None-Match"));
      b_.push(params, param("envelope"));
      b_.push(params, param("X-Envelope"));
      b_.set(list, "get", operation(c.name, "list_" + c.name, "List " + c.name,
                                    "Paging by `page` or by `cursor`; an unknown field or operator is 400 naming it.",
                                    std::move(params), security(anonymous),
                                    responses(okResponse(200, "A page of " + c.name + ".", b_.schemaRef(t + "ListReply"),
                                                         {"ETag", "Link", "X-Total-Count"}),
                                              {400, 401, 403, 406, 429, 500, 502, 503}, true)));
    }
    {
      Value params = profileParams();
      b_.push(params, param("Idempotency-Key"));
      b_.push(params, param("atomic"));
      Value body = Builder::object();
      Value choices = Builder::array();
      b_.push(choices, b_.schemaRef(t + "Create"));
      b_.push(choices, arrayOf(b_, b_.schemaRef(t + "Create")));
      b_.set(body, "oneOf", std::move(choices));
      Success ok = okResponse(201, "Created: the " + one + " (an object body) or the " + c.name + " (an array body).",
                            [&] {
                              Value either = Builder::object();
                              Value alts = Builder::array();
                              b_.push(alts, b_.schemaRef(t + "Reply"));
                              b_.push(alts, b_.schemaRef(t + "BatchReply"));
                              b_.set(either, "oneOf", std::move(alts));
                              return either;
                            }(),
                            {"Location"});
      Value op = operation(c.name, "create_" + c.name, "Create one " + one + " or many",
                           "An object creates one; an array creates many (at most `max_batch_items`), all or nothing "
                           "unless `atomic=false`.",
                           std::move(params), security(false),
                           responses(std::move(ok), {400, 401, 403, 406, 409, 413, 415, 422, 429, 500, 502, 503},
                                     false,
                                     okResponse(207, "Some items of a batch with `atomic=false` were saved; `failures` "
                                                     "names the others.",
                                                b_.schemaRef(t + "BatchReply"))));
      Value content = writeContent(std::move(body), false);
      Value form = Builder::object();
      b_.set(form, "schema", b_.schemaRef(t + "Create"));
      b_.set(content, "application/x-www-form-urlencoded", std::move(form));
      withBody(op, std::move(content));
      b_.set(list, "post", std::move(op));
    }
    {
      Value params = profileParams();
      b_.push(params, param("Idempotency-Key"));
      b_.push(params, param("atomic"));
      Value op = operation(c.name, "update_many_" + c.name, "Change many " + c.name,
                           "An array of merge patches, each naming its record's `id`.", std::move(params),
                           security(false),
                           responses(okResponse(200, "The changed " + c.name + ".", b_.schemaRef(t + "BatchReply")),
                                     {400, 401, 403, 406, 409, 413, 415, 422, 429, 500, 502, 503}, false,
                                     okResponse(207, "Some items were changed; `failures` names the others.",
                                                b_.schemaRef(t + "BatchReply"))));
      withBody(op, jsonContent(b_, arrayOf(b_, b_.schemaRef(t + "PatchItem"))));
      b_.set(list, "patch", std::move(op));
    }
    {
      Value params = profileParams();
      b_.push(params, param("ids"));
      b_.push(params, param("atomic"));
      Value op = operation(c.name, "delete_many_" + c.name, "Delete many " + c.name,
                           "The ids as a JSON array body or as `?ids=a,b,c`.", std::move(params), security(false),
                           responses(okResponse(200, "Deleted.", b_.schemaRef("DeletedBatchReply")),
                                     {400, 401, 403, 406, 413, 415, 422, 429, 500, 502, 503}, false,
                                     okResponse(207, "Some records were deleted; `failures` names the others.",
                                                b_.schemaRef("DeletedBatchReply"))));
      Value ids = Builder::object();
      b_.set(ids, "type", "array");
      Value item = Builder::object();
      b_.set(item, "type", "string");
      b_.set(ids, "items", std::move(item));
      withBody(op, jsonContent(b_, std::move(ids)), false);
      b_.set(list, "delete", std::move(op));
    }
    b_.set(paths, base, std::move(list));

    // The change feed.
    {
      Value events = Builder::object();
      Value params = Builder::array();
      b_.push(params, param("Last-Event-ID"));
      Value ok = Builder::object();
      b_.set(ok, "description",
             "Server-Sent Events: `event: created|updated|deleted` (or `reset`), `id:` a sequence number, `data:` "
             "the " + one + " as the standard profile renders it.");
      Value stream = Builder::object();
      Value schema = Builder::object();
      b_.set(schema, "type", "string");
      b_.set(stream, "schema", std::move(schema));
      Value content = Builder::object();
      b_.set(content, "text/event-stream", std::move(stream));
      b_.set(ok, "content", std::move(content));
      b_.set(events, "get", operation(c.name, "events_" + c.name, "Follow changes to " + c.name,
                                      "Only what the caller may see; `Last-Event-ID` resumes after that event.",
                                      std::move(params), security(anonymous),
                                      responses({200, std::move(ok)}, {400, 401, 403, 406, 429, 500, 502, 503})));
      b_.set(paths, base + "/events", std::move(events));
    }

    // One record.
    Value item = Builder::object();
    Value idParam = inlineParam("id", "path", [&] {
      Value s = Builder::object();
      b_.set(s, "type", "string");
      return s;
    }(), std::string("The ") + one + "'s id" + (c.slugFrom ? " or slug (GET)." : "."), true);
    Value pathParams = Builder::array();
    b_.push(pathParams, std::move(idParam));
    b_.set(item, "parameters", std::move(pathParams));
    {
      Value params = profileParams();
      b_.push(params, param("If-None-Match"));
      b_.set(item, "get", operation(c.name, "get_" + one, "Get one " + one, "", std::move(params), security(anonymous),
                                    responses(okResponse(200, "The " + one + ".", b_.schemaRef(t + "Reply"),
                                                         {"ETag", "Last-Modified"}),
                                              {400, 401, 403, 404, 406, 429, 500, 502, 503}, true)));
    }
    for (const char* method : {"put", "patch"}) {
      const bool put = std::string_view(method) == "put";
      Value params = profileParams();
      b_.push(params, param("If-Match"));
      if (!put) b_.push(params, param("Idempotency-Key"));
      Value op = operation(c.name, (put ? "replace_" : "update_") + one, (put ? "Replace one " : "Change one ") + one,
                           put ? "Every required field must be given; the others become null or their default."
                               : "A JSON merge patch (RFC 7396): null removes a field.",
                           std::move(params), security(false),
                           responses(okResponse(200, "The " + one + " as saved.", b_.schemaRef(t + "Reply"), {"ETag"}),
                                     {400, 401, 403, 404, 406, 409, 412, 413, 415, 422, 429, 500, 502, 503}));
      withBody(op, writeContent(b_.schemaRef(t + (put ? "Create" : "Patch")), !put));
      b_.set(item, method, std::move(op));
    }
    {
      Value params = profileParams();
      b_.push(params, param("If-Match"));
      b_.set(item, "delete", operation(c.name, "delete_" + one, "Delete one " + one, "", std::move(params),
                                       security(false),
                                       responses(okResponse(200, "Deleted; `meta.message` says so.",
                                                            b_.schemaRef("DeletedReply")),
                                                 {400, 401, 403, 404, 406, 412, 429, 500, 502, 503})));
    }
    b_.set(paths, base + "/{id}", std::move(item));
  }

  const Config& config_;
  rapidjson::Document& doc_;
  Builder b_;
  std::map<int, std::string> statuses_;
  std::set<int> used_;  // the statuses some operation can answer
};

}  // namespace

std::string renderOpenApi(const Config& config) {
  rapidjson::Document doc;
  Generator(config, doc).run();
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  doc.Accept(w);
  return std::string(out.GetString(), out.GetSize());
}

}  // namespace restd::api
