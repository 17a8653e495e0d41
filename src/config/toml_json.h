// A TOML value as JSON text: how the loader keeps defaults and enum values
// (config.h's FieldSpec::defaultJson, enumJson). Private to config/.
#pragma once

#include <toml++/toml.h>

#include <string>

namespace restd {

// Appends `n` to `out` as JSON.
void toJson(const toml::node& n, std::string& out);

}  // namespace restd
