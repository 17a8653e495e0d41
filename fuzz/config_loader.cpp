// Fuzzes configuration loading: any TOML text either loads into a Config or
// is refused with at least one message; never both, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  restd::ConfigErrors errors;
  auto config = restd::parseConfig(text, "fuzz.toml", errors);
  if (config.has_value() == !errors.messages.empty()) std::abort();
  return 0;
}
