// R5: raw SQLite on this machine, the floor under restd's storage costs.
//   BM_PointLookup         prepared SELECT by primary key
//   BM_InsertFsyncEach     one INSERT per transaction, synchronous=FULL, WAL (one fsync each)
//   BM_BulkInsert1000      1000 INSERTs in one transaction (items/s is records/s)
// The table and rows have the shape restd stores for the bench collection
// (the same columns, the unique slug index, TypeID-shaped time-ordered ids,
// a JSON array in `tags`), so the figures are SQLite's own cost for the same
// data, with nothing of restd around it.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

struct Db {
  sqlite3* db = nullptr;
  std::string path;
  explicit Db(const char* name) {
    path = std::string("/tmp/restd-bench-") + name + "-" + std::to_string(getpid()) + ".db";
    std::remove(path.c_str());
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE things (\"id\" TEXT PRIMARY KEY NOT NULL, \"slug\" TEXT, \"createdAt\" INTEGER NOT NULL, "
                 "\"updatedAt\" INTEGER NOT NULL, \"version\" INTEGER NOT NULL, \"owner\" TEXT NOT NULL, "
                 "\"name\" TEXT, \"price\" NUMERIC, \"tags\" TEXT, \"_extra\" TEXT);"
                 "CREATE UNIQUE INDEX things__unique_slug ON things (\"slug\") WHERE \"slug\" IS NOT NULL;",
                 nullptr, nullptr, nullptr);
  }
  ~Db() {
    sqlite3_close(db);
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

constexpr const char* kInsert = "INSERT INTO things VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// A TypeID-shaped id ("thing_" + 26 base32 characters) that sorts by i, as
// restd's time-ordered ids do.
std::string idFor(int64_t i) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  std::string id = "thing_01m85yk2";
  uint64_t v = static_cast<uint64_t>(i) * 2654435761ULL % 1000000007ULL + (static_cast<uint64_t>(i) << 30);
  char tail[18];
  for (int k = 17; k >= 0; --k) {
    tail[k] = kAlphabet[v & 31];
    v >>= 5;
  }
  return id.append(tail, sizeof tail);
}

void insert(sqlite3_stmt* st, int64_t i) {
  std::string id = idFor(i);
  std::string name = "bulk " + std::to_string(i);
  sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_null(st, 2);
  sqlite3_bind_int64(st, 3, 1795514400000 + i);
  sqlite3_bind_int64(st, 4, 1795514400000 + i);
  sqlite3_bind_int64(st, 5, 1);
  sqlite3_bind_text(st, 6, "user_01m85yk22fe4tbq7t5x6v3w2sn", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 8, 2);
  sqlite3_bind_text(st, 9, "[\"b\"]", -1, SQLITE_STATIC);
  sqlite3_bind_null(st, 10);
  sqlite3_step(st);
  sqlite3_reset(st);
}

void BM_PointLookup(benchmark::State& state) {
  Db d("lookup");
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(d.db, kInsert, -1, &ins, nullptr);
  sqlite3_exec(d.db, "BEGIN", nullptr, nullptr, nullptr);
  for (int64_t i = 0; i < 100000; ++i) insert(ins, i);
  sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_finalize(ins);
  sqlite3_stmt* sel;
  sqlite3_prepare_v2(d.db, "SELECT * FROM things WHERE id = ?", -1, &sel, nullptr);
  int64_t i = 0;
  for (auto _ : state) {
    std::string id = idFor((i++ * 7919) % 100000);
    sqlite3_bind_text(sel, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    benchmark::DoNotOptimize(sqlite3_step(sel));
    sqlite3_reset(sel);
  }
  sqlite3_finalize(sel);
  state.SetItemsProcessed(state.iterations());
}

void BM_InsertFsyncEach(benchmark::State& state) {
  Db d("fsync");
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(d.db, kInsert, -1, &ins, nullptr);
  int64_t i = 0;
  for (auto _ : state) insert(ins, i++);  // autocommit: one transaction, one fsync, per insert
  sqlite3_finalize(ins);
  state.SetItemsProcessed(state.iterations());
}

void BM_BulkInsert1000(benchmark::State& state) {
  Db d("bulk");
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(d.db, kInsert, -1, &ins, nullptr);
  int64_t i = 0;
  for (auto _ : state) {
    sqlite3_exec(d.db, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = 0; k < 1000; ++k) insert(ins, i++);
    sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(ins);
  state.SetItemsProcessed(state.iterations() * 1000);
}

// Rates are per second of wall-clock time: an insert that waits for its fsync
// is not done until the disk says so, and CPU time would leave that wait out.
BENCHMARK(BM_PointLookup)->UseRealTime();
BENCHMARK(BM_InsertFsyncEach)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_BulkInsert1000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
