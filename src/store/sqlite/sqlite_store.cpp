#include "store/sqlite/sqlite_store.h"

#include <sys/stat.h>
#include <unistd.h>

namespace restd::store {

std::unique_ptr<SqliteStore> SqliteStore::open(const std::string& path, const StorageConfig& config,
                                               std::string& error) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    error = "cannot open SQLite database \"" + path + "\": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=";
  pragmas += config.durability == "full" ? "FULL;" : "NORMAL;";
  char* msg = nullptr;
  if (sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    error = "cannot prepare SQLite database \"" + path + "\": " + (msg ? msg : "unknown error");
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(db, path == ":memory:" ? "" : path));
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

bool SqliteStore::ready() {
  // An open connection keeps answering after its file vanished or turned
  // read-only, so check the file too.
  if (!path_.empty()) {
    struct stat st{};
    if (::stat(path_.c_str(), &st) != 0 || ::access(path_.c_str(), R_OK | W_OK) != 0) return false;
  }
  std::lock_guard lock(mutex_);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_master", -1, &stmt, nullptr) != SQLITE_OK) return false;
  bool ok = sqlite3_step(stmt) == SQLITE_ROW;
  sqlite3_finalize(stmt);
  return ok;
}

}  // namespace restd::store
