#include "store/store.h"

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

#include <future>

namespace restd::store {

bool Store::runWrite(WriteJob job) {
  std::promise<bool> done;
  auto result = done.get_future();
  bool kept = false;
  submitWrite(
      [&](WriteTxn& txn) {
        kept = job(txn);
        return kept;
      },
      [&](bool committed) { done.set_value(committed); });
  return result.get() && kept;
}

std::unique_ptr<Store> openStore(const Config& config, std::string& error) {
  const std::string& url = config.storage.url;
  if (url.starts_with("sqlite:")) {
    std::string path = url.substr(7);
    if (path == ":memory:") return SqliteStore::open(":memory:", config.storage, error);
    return SqliteStore::open(path, config.storage, error);
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) return PgStore::open(url, config.storage, error);
  error = "unknown storage URL \"" + url + "\": use sqlite:PATH or postgres://user:password@host:port/database";
  return nullptr;
}

}  // namespace restd::store
