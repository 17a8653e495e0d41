// The storage interface. Handlers talk to a Store; SQL lives only in its
// implementations (store/sqlite/, later store/postgres/). A Store is shared by
// all I/O threads: every method is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"

namespace restd::store {

class Store {
 public:
  virtual ~Store() = default;
  // True when the storage can serve reads and writes right now (/readyz).
  virtual bool ready() = 0;
  // "sqlite" or "postgres".
  virtual std::string_view engine() const = 0;
};

// Opens the storage named by config.storage.url. On failure returns nullptr
// and sets `error` to one line for the operator.
std::unique_ptr<Store> openStore(const Config& config, std::string& error);

}  // namespace restd::store
