// R5: raw SQLite on this machine, the floor under restd's storage costs.
//   BM_PointLookup         prepared SELECT by primary key
//   BM_InsertFsyncEach     one INSERT per transaction, synchronous=FULL, WAL (one fsync each)
//   BM_BulkInsert1000      1000 INSERTs in one transaction (items/s is records/s)
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
                 "CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT, price NUMERIC, createdAt INTEGER)",
                 nullptr, nullptr, nullptr);
  }
  ~Db() {
    sqlite3_close(db);
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
};

void insert(sqlite3_stmt* st, int64_t i) {
  std::string id = "thing_" + std::to_string(i);
  sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, "a name", -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 3, 9.99);
  sqlite3_bind_int64(st, 4, i);
  sqlite3_step(st);
  sqlite3_reset(st);
}

void BM_PointLookup(benchmark::State& state) {
  Db d("lookup");
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(d.db, "INSERT INTO things VALUES (?, ?, ?, ?)", -1, &ins, nullptr);
  sqlite3_exec(d.db, "BEGIN", nullptr, nullptr, nullptr);
  for (int64_t i = 0; i < 100000; ++i) insert(ins, i);
  sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_finalize(ins);
  sqlite3_stmt* sel;
  sqlite3_prepare_v2(d.db, "SELECT * FROM things WHERE id = ?", -1, &sel, nullptr);
  int64_t i = 0;
  for (auto _ : state) {
    std::string id = "thing_" + std::to_string((i++ * 7919) % 100000);
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
  sqlite3_prepare_v2(d.db, "INSERT INTO things VALUES (?, ?, ?, ?)", -1, &ins, nullptr);
  int64_t i = 0;
  for (auto _ : state) insert(ins, i++);  // autocommit: one transaction, one fsync, per insert
  sqlite3_finalize(ins);
  state.SetItemsProcessed(state.iterations());
}

void BM_BulkInsert1000(benchmark::State& state) {
  Db d("bulk");
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(d.db, "INSERT INTO things VALUES (?, ?, ?, ?)", -1, &ins, nullptr);
  int64_t i = 0;
  for (auto _ : state) {
    sqlite3_exec(d.db, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = 0; k < 1000; ++k) insert(ins, i++);
    sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(ins);
  state.SetItemsProcessed(state.iterations() * 1000);
}

BENCHMARK(BM_PointLookup);
BENCHMARK(BM_InsertFsyncEach)->MinTime(2.0);
BENCHMARK(BM_BulkInsert1000);

}  // namespace

BENCHMARK_MAIN();
