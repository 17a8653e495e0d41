// The paths of the OpenAPI document: the fixed endpoints and each
// collection's list, change feed and record.
#include <string>

#include "api/openapi_parts.h"
#include "common/error.h"

namespace restd::api::openapi {

void Generator::filterParams(const CollectionSpec& c, Value& list) {
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

void Generator::paths() {
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
  for (const auto& c : config_.collections) {
    collectionPaths(c, paths);
    eventsPath(c, paths);
    recordPaths(c, paths);
  }
  b_.set(doc_, "paths", std::move(paths));
}

// Long by design: four operations of one path, each a list of its
// parameters and responses; a description, not logic.
void Generator::collectionPaths(const CollectionSpec& c, Value& paths) {
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
}

void Generator::eventsPath(const CollectionSpec& c, Value& paths) {
  const std::string one = c.singular;
  const bool anonymous = c.anonymousRead;
  const std::string base = "/" + c.name;
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

void Generator::recordPaths(const CollectionSpec& c, Value& paths) {
  const std::string t = typeName(c);
  const std::string one = c.singular;
  const bool anonymous = c.anonymousRead;
  const std::string base = "/" + c.name;
  // The list.
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

}  // namespace restd::api::openapi
