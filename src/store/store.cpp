#include "store/store.h"

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

namespace {

void removeDatabaseFiles(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

// The directory entry of a renamed file is durable only once its directory is synced.
void syncDirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Status Store::backup(const Config& config, const std::string& path, bool overwrite, const ProgressFn& progress) {
  struct stat st;
  if (!overwrite && ::stat(path.c_str(), &st) == 0)
    return {StatusCode::unavailable, {}, path + " already exists (pass --force to overwrite it)"};
  // Beside the target, so the final rename stays on one file system.
  std::string partial = path + ".partial";
  removeDatabaseFiles(partial);
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return {StatusCode::unavailable, {}, "cannot write " + path + ": " + std::strerror(errno)};
  ::close(fd);
  Status e = copyInto(config, partial, progress);
  if (!e) {
    // RENAME_NOREPLACE: a file that appeared at `path` meanwhile is not overwritten either.
    int rc = overwrite ? ::rename(partial.c_str(), path.c_str())
                       : ::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (rc != 0)
      e = {StatusCode::unavailable, {},
           errno == EEXIST ? path + " already exists (pass --force to overwrite it)"
                           : "cannot write " + path + ": " + std::strerror(errno)};
  }
  if (e) {
    removeDatabaseFiles(partial);
    return e;
  }
  for (const char* suffix : {"-wal", "-shm"}) ::unlink((path + suffix).c_str());  // an overwritten database's
  syncDirectoryOf(path);
  return {};
}

Status Store::copyInto(const Config& config, const std::string& path, const ProgressFn& progress) {
  std::string error;
  StorageConfig target = config.storage;
  target.url = "sqlite:" + path;
  auto copy = SqliteStore::open(path, target, error);
  if (!copy) return {StatusCode::unavailable, {}, error};
  bool destructive = false;
  if (!copy->migrate(config, false, destructive, error)) return {StatusCode::unavailable, {}, error};
  Status failure;
  Status read = readSnapshot([&](ReadSnapshot& snap) -> Status {
    CopyProgress p;
    for (const auto& c : config.collections) {
      int64_t n = 0;
      if (auto e = snap.count(c, n)) return e;
      p.total += n;
    }
    std::vector<User> users;
    std::vector<std::pair<ApiKey, std::string>> keys;
    if (auto e = snap.users(users)) return e;
    if (auto e = snap.apiKeys(keys)) return e;
    // One transaction: the copy is all there or not at all.
    bool committed = copy->runWrite([&](WriteTxn& txn) {
      for (const auto& u : users)
        if ((failure = txn.addUser(u))) return false;
      for (const auto& [k, hash] : keys)
        if ((failure = txn.addApiKey(k, hash))) return false;
      if (Status e = snap.tokens([&](const StoredToken& t) {
            if (!failure) failure = txn.addToken(t.tokenHash, t.userId, t.apiKeyLabel, t.expiresAt);
          }))
        failure = e;
      if (failure) return false;
      constexpr size_t kBatch = 500;
      std::vector<Record> batch;
      std::vector<const Record*> pointers;
      std::vector<Status> errors;
      batch.reserve(kBatch);
      for (const auto& c : config.collections) {
        auto flush = [&] {
          pointers.clear();
          for (const auto& r : batch) pointers.push_back(&r);
          txn.insertMany(c, pointers, errors);
          for (const auto& e : errors)
            if (e && !failure) failure = e;
          p.done += static_cast<int64_t>(batch.size());
          batch.clear();
          if (!failure && progress && !progress(p)) failure = {StatusCode::internal, {}, std::string(kInterruptedDetail)};
          return !failure;
        };
        Status e = snap.records(c, [&](Record& r) {
          batch.push_back(std::move(r));
          return batch.size() < kBatch || flush();
        });
        if (e && !failure) failure = e;
        if (failure || (!batch.empty() && !flush())) return false;
      }
      return true;
    });
    if (!committed && !failure) failure = {StatusCode::unavailable, {}, "cannot write " + path};
    return {};
  });
  copy->close();
  return read ? read : failure;
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
