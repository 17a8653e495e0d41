// The collection the pure api tests (validation, list queries) share: one
// field of each kind they check.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace restd::api::testing
