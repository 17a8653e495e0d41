// A real SQLite store for unit tests: a file in a temporary directory of its
// own, opened and migrated for a config (whose storage.url it sets). The
// store is closed and the directory removed with this object. Throws when
// the store cannot be opened or migrated.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.h"
#include "store/store.h"

namespace restd::testing {

class TempSqliteStore {
 public:
  // `tag` names the directory ("restd-TAG-…"); `config` must outlive this.
  TempSqliteStore(Config& config, std::string_view tag) {
    dir_ = std::filesystem::temp_directory_path() / ("restd-" + std::string(tag) + "-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    config.storage.url = "sqlite:" + (dir_ / "test.db").string();
    std::string error;
    store_ = store::openStore(config, error);
    if (!store_) throw std::runtime_error("cannot open the store: " + error);
    bool destructive = false;
    if (!store_->migrate(config, false, destructive, error)) throw std::runtime_error("migrate: " + error);
  }
  ~TempSqliteStore() {
    store_->close();
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempSqliteStore(const TempSqliteStore&) = delete;
  TempSqliteStore& operator=(const TempSqliteStore&) = delete;

  store::Store& store() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace restd::testing
