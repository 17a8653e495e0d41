// Fuzzes strict JSON parsing and validation against a collection with every
// field type and rule: create, replace and merge-patch against a stored record.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/validation.h"
#include "common/json.h"
#include "collection_fixture.h"

namespace {

constexpr std::string_view kConfig = R"toml(
[collections.things]
slug_from = "name"
extra_fields = "allow"
[collections.things.fields]
name  = { type = "string", required = true, max_length = 50, min_length = 1 }
price = { type = "number", min = 0, max = 1000 }
qty   = { type = "integer", min = -5, max = 5, default = 1 }
flag  = { type = "boolean" }
when  = { type = "datetime" }
meta  = { type = "object" }
tags  = { type = "array", max_length = 4 }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
code  = { type = "string", pattern = "^[A-Z]{3}[0-9]{3}$", unique = true }
fixed = { type = "string", read_only = true, default = "x" }
)toml";

struct Fixture : CollectionFixture {
  rapidjson::Document current;
  Fixture() : CollectionFixture(kConfig) {
    current.Parse(R"({"name":"a","price":1,"qty":2,"tags":["x"],"meta":{"k":{"n":1}},"extra":true})");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document body;
  std::string why;
  if (!restd::parseStrictJson(text, body, why)) {
    if (why.empty()) std::abort();  // a refusal always explains itself
    return 0;
  }
  using restd::api::WriteMode;
  for (WriteMode mode : {WriteMode::create, WriteMode::replace, WriteMode::patch}) {
    rapidjson::Document out;
    auto e = restd::api::buildValues(f.rules, body, mode, mode == WriteMode::patch ? &f.current : nullptr, out);
    if (e && e->details.size() > restd::kMaxErrorDetails) std::abort();
  }
  return 0;
}
