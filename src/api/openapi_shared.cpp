// The OpenAPI components that do not depend on the config, as JSON text
// (parsed once per document by Generator::components()).
#include "api/openapi_parts.h"

namespace restd::api::openapi {

const char* const kShared = R"json({
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

}  // namespace restd::api::openapi
