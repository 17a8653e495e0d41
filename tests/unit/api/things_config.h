// The collection the pure api tests (validation, list queries) share: one
// field of each kind they check, and a fixture holding it with its rules.
#pragma once

#include <gtest/gtest.h>

#include "api/validation.h"
#include "config/config.h"

namespace restd::api::testing {

inline Config thingsConfig() {
  ConfigErrors errors;
  auto c = parseConfig(R"(
[collections.things.fields]
name  = { type = "string", required = true, max_length = 5 }
price = { type = "number", min = 0 }
state = { type = "string", enum = ["draft", "live"], default = "draft" }
meta  = { type = "object" }
)", "t.toml", errors);
  if (!c) throw std::runtime_error("the tests' config does not load: " + errors.messages.front());
  return std::move(*c);
}

class ThingsTest : public ::testing::Test {
 protected:
  ThingsTest() : config(thingsConfig()), rules(CollectionRules::compile(config.collections[0])) {}
  Config config;
  CollectionRules rules;
};

}  // namespace restd::api::testing
