// The query planner's statistics for `index = true` fields, written by restd
// into sqlite_stat1 (see SqliteStore::writeStatistics in sqlite_store.h).
//
// Why not ANALYZE: without a limit it reads every index whole, holding the
// write lock all along (seconds on millions of rows, every write waiting);
// with `analysis_limit` it reads the first entries of each index only, which
// for a field of few values are all one value, and it then takes "state =
// ?" for a selective equality. What the planner needs of an index on
// (field, id) is how many rows an equality on the field matches; restd
// estimates it from a random sample of the table's rows (by rowid): for a
// row drawn at random, the expected number of rows sharing its value is
// n * sum(p_v^2),
// p_v being each value's share in the sample. A field of three equally
// common values gives n / 3; a field of distinct values about n / sample
// (then clamped to at least 1), small either way.
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/sql/sql_builder.h"
#include "store/sqlite/sqlite_store.h"

namespace restd::store {

namespace {

constexpr int kSample = 1000;

int64_t scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = 0;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

}  // namespace

void SqliteStore::refreshStatistics() {
  int64_t changes = sqlite3_total_changes64(writer_->db());
  if (changes - changesAtStatistics_ < statisticsAfter_) return;
  statisticsAfter_ = std::min<int64_t>(statisticsAfter_ * 2, 1'000'000);
  changesAtStatistics_ = changes;
  std::unique_lock<std::mutex> memoryLock;
  if (path_.empty()) memoryLock = std::unique_lock(memoryMutex_);
  writeStatistics();
}

// Long by design: sample, estimate and write, in one read snapshot and one
// write transaction that must not be split.
void SqliteStore::writeStatistics() {
  if (indexedFields_.empty()) return;
  // sqlite_stat1 is made by the first ANALYZE; of a one-row table, at once.
  if (!writer_->exec("ANALYZE \"_restd_schema\"")) return;  // a read-only database is served without
  // The sample is read on a connection of its own without the memory
  // mapping, closed afterwards: through the writer's mapping, the pages it
  // touches (a thousand random rows) stayed in the process's RSS,
  // 25 MB for 100,000 records. In memory there is only the writer.
  std::unique_ptr<SqliteConnection> own;
  if (!path_.empty()) {
    std::string error;
    own = SqliteConnection::open(path_, config_, error);
    if (!own || !own->exec("PRAGMA mmap_size = 0; PRAGMA cache_size = -256; PRAGMA query_only = ON")) return;
  }
  sqlite3* db = own ? own->db() : writer_->db();
  std::mt19937_64 random(std::random_device{}());
  struct Row {
    std::string table, index, stat;
  };
  std::vector<Row> rows;
  for (const auto& [collection, fields] : indexedFields_) {
    std::string table = sql::quote(collection);
    // Rowids drawn at random from 1 to the largest: those that exist are a
    // uniform sample, and the share that exists estimates the row count
    // (no count(*), which would read a whole index at every start).
    int64_t top = scalar(db, "SELECT max(rowid) FROM " + table);
    if (top <= 0) continue;
    std::string select = "SELECT ";
    for (size_t i = 0; i < fields.size(); ++i) select += (i ? ", " : "") + sql::quote(fields[i]);
    select += " FROM " + table + " WHERE rowid = ?";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, select.c_str(), -1, &st, nullptr) != SQLITE_OK) continue;
    std::vector<std::unordered_map<std::string, int>> seen(fields.size());
    int drawn = 0, tries = 0;
    std::uniform_int_distribution<int64_t> rowid(1, top);
    for (; drawn < kSample && tries < 3 * kSample; ++tries) {
      sqlite3_bind_int64(st, 1, rowid(random));
      if (sqlite3_step(st) == SQLITE_ROW) {
        for (size_t f = 0; f < fields.size(); ++f) {
          // The type as well: 1 and '1' are different values.
          auto text = reinterpret_cast<const char*>(sqlite3_column_text(st, static_cast<int>(f)));
          ++seen[f][std::to_string(sqlite3_column_type(st, static_cast<int>(f))) + ":" + (text ? text : "")];
        }
        ++drawn;
      }
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (drawn == 0) continue;
    int64_t n = std::max<int64_t>(drawn, std::llround(double(top) * drawn / tries));
    for (size_t f = 0; f < fields.size(); ++f) {
      double sum = 0;
      for (const auto& [value, count] : seen[f]) sum += (double(count) / drawn) * (double(count) / drawn);
      auto perValue = std::max<int64_t>(1, std::llround(double(n) * sum));
      rows.push_back({collection, collection + "__index_" + fields[f],
                      std::to_string(n) + " " + std::to_string(perValue) + " 1"});
    }
  }
  own.reset();
  db = writer_->db();
  bool ok = writer_->exec("BEGIN IMMEDIATE");
  sqlite3_stmt* del = nullptr;
  sqlite3_stmt* ins = nullptr;
  ok = ok && sqlite3_prepare_v2(db, "DELETE FROM sqlite_stat1 WHERE idx = ?", -1, &del, nullptr) == SQLITE_OK &&
       sqlite3_prepare_v2(db, "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", -1, &ins, nullptr) ==
           SQLITE_OK;
  for (const auto& r : rows) {
    if (!ok) break;
    sqlite3_bind_text(del, 1, r.index.c_str(), -1, SQLITE_STATIC);
    ok = sqlite3_step(del) == SQLITE_DONE;
    sqlite3_reset(del);
    sqlite3_bind_text(ins, 1, r.table.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, r.index.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, r.stat.c_str(), -1, SQLITE_STATIC);
    ok = ok && sqlite3_step(ins) == SQLITE_DONE;
    sqlite3_reset(ins);
  }
  sqlite3_finalize(del);
  sqlite3_finalize(ins);
  if (!ok || !writer_->exec("COMMIT")) {
    writer_->exec("ROLLBACK");
    logWriterError("cannot write the planner's statistics");
    return;
  }
  // This connection reloads them now (in-memory databases read through it);
  // readers reopen (acquireReader).
  writer_->exec("ANALYZE sqlite_schema");
  statisticsGeneration_.fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace restd::store
