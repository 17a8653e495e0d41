// Fuzzes query-string parsing and list requests (filters, operators, sort,
// fields, paging, cursors) against a collection with every field type.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/list_query.h"
#include "api/negotiation.h"
#include "api/validation.h"
#include "collection_fixture.h"

namespace {

constexpr std::string_view kConfig = R"toml(
[collections.things]
slug_from = "name"
[collections.things.fields]
name  = { type = "string" }
price = { type = "number" }
qty   = { type = "integer" }
flag  = { type = "boolean" }
when  = { type = "datetime" }
meta  = { type = "object" }
)toml";

struct Fixture : CollectionFixture {
  Fixture() : CollectionFixture(kConfig) {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  std::string_view query(reinterpret_cast<const char*>(data), size);
  restd::api::QueryParams params;
  if (!restd::api::parseQuery(query, params)) return 0;
  restd::api::ListRequest request;
  if (auto e = restd::api::parseListRequest(f.rules, params, request)) {
    if (e->message.empty()) std::abort();
    return 0;
  }
  restd::api::linkHeader("/api/v2/things", params, request, 1000, true, std::nullopt);
  return 0;
}
