#include "store/store.h"

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
  error = "PostgreSQL storage (" + url.substr(0, url.find(':')) +
          "://) is not available in this version of restd yet; use a sqlite: URL";
  return nullptr;
}

}  // namespace restd::store
