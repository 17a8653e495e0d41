// Strict JSON input (SPEC §10 "JSON input"): invalid syntax, duplicate keys, a
// byte-order mark, invalid UTF-8, nesting deeper than 64 levels (the top-level
// value is level 1) or a number that does not fit a double are all refused.
// `\u0000` inside strings is kept. Never recurses on the input's nesting.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace restd {

constexpr int kMaxJsonDepth = 64;

// Parses `text` into `doc`. Returns false and sets `why` (one sentence for the
// client, with the byte offset) when the text is not acceptable.
bool parseStrictJson(std::string_view text, rapidjson::Document& doc, std::string& why);

// Serialises a value as compact JSON.
std::string toJsonText(const rapidjson::Value& v);

// A deep copy of `from` into `to`, its containers and copied strings in `a`.
// Constant strings (field names that point into the configuration) stay
// shared, as in RapidJSON's own copy. Unlike RapidJSON 1.1's copy of an
// object or array, which builds it on a temporary document's heap stack,
// this allocates only from `a`. Recurses once per nesting level: for values
// that passed parseStrictJson, at most kMaxJsonDepth.
void copyJson(const rapidjson::Value& from, rapidjson::Value& to, rapidjson::MemoryPoolAllocator<>& a);
// Adds a copy of member `m` (its name, and its value by copyJson) to `object`.
void addMemberCopy(rapidjson::Value& object, const rapidjson::Value::Member& m, rapidjson::MemoryPoolAllocator<>& a);

// Parses JSON that restd wrote itself (a stored column) into `out`, its
// values in `a`; `out` is null when the text does not parse. The parser's
// stacks live in a per-thread pool that is emptied after each call, so a
// parse allocates from the heap only for `a`'s chunks and for text nested
// deeper than that pool holds (a Document of its own would allocate its two
// stacks and their allocators on every call). Iterative: never recurses.
void parseStoredJson(std::string_view text, rapidjson::Value& out, rapidjson::MemoryPoolAllocator<>& a);

// True when `s` holds a character that JSON must escape: a control character,
// '"' or '\\' (what RapidJSON's writer escapes; it writes all other bytes as
// they are). Text without one can be copied into a JSON string whole.
bool needsJsonEscape(std::string_view s);

}  // namespace restd
