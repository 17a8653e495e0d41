// SQLite storage (SPEC §9): WAL mode, durability per storage.durability.
#pragma once

#include <sqlite3.h>

#include <mutex>
#include <string>

#include "store/store.h"

namespace restd::store {

class SqliteStore final : public Store {
 public:
  // `path` is a file path or ":memory:". Returns nullptr and sets `error` on failure.
  static std::unique_ptr<SqliteStore> open(const std::string& path, const StorageConfig& config, std::string& error);
  ~SqliteStore() override;

  bool ready() override;
  std::string_view engine() const override { return "sqlite"; }

 private:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  std::mutex mutex_;
  sqlite3* db_;          // guarded by mutex_
  std::string path_;     // "" for in-memory
};

}  // namespace restd::store
