// One collection compiled from TOML, for the fuzz targets that validate
// against a collection. Aborts on a bad config: that is a bug in the target.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "api/validation.h"
#include "config/config.h"

struct CollectionFixture {
  restd::Config config;
  restd::api::CollectionRules rules;
  explicit CollectionFixture(std::string_view toml) {
    restd::ConfigErrors errors;
    auto c = restd::parseConfig(toml, "fuzz.toml", errors);
    if (!c || c->collections.empty()) {
      for (const auto& m : errors.messages) std::fprintf(stderr, "fuzz fixture: %s\n", m.c_str());
      std::abort();
    }
    config = std::move(*c);
    rules = restd::api::CollectionRules::compile(config.collections.front());
  }
};
