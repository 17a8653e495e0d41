// The SQLite store on its own, on a real file: failures surface as errors,
// never as loops, silence or a lost group.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "config/config.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace {

using restd::Status;
using restd::StatusCode;

constexpr std::string_view kToml = R"toml(
[collections.notes]
visibility = "owner"
slug_from = "title"
[collections.notes.fields]
title = { type = "string" }
code = { type = "string", unique = true }
)toml";

struct TempStore {
  std::filesystem::path dir;
  restd::Config config;
  std::unique_ptr<restd::store::Store> store;
  TempStore() {
    dir = std::filesystem::temp_directory_path() / ("restd-store-test-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::create_directories(dir);
    restd::ConfigErrors errors;
    config = *restd::parseConfig(kToml, "test.toml", errors);
    config.storage.url = "sqlite:" + (dir / "t.db").string();
    std::string error;
    store = restd::store::openStore(config, error);
    bool destructive = false;
    EXPECT_TRUE(store && store->migrate(config, false, destructive, error)) << error;
  }
  ~TempStore() {
    store->close();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  const restd::CollectionSpec& notes() const { return config.collections.front(); }
};

restd::store::Record note(const std::string& id, const std::string& owner, const std::string& slug,
                          const std::string& code) {
  restd::store::Record r;
  r.id = id;
  r.owner = owner;
  r.slug = slug;
  r.createdAt = r.updatedAt = 1;
  r.version = 1;
  r.values.SetObject();
  auto& a = r.values.GetAllocator();
  r.values.AddMember("title", rapidjson::Value("t", a), a);
  r.values.AddMember("code", rapidjson::Value(code.c_str(), a), a);
  return r;
}

}  // namespace

TEST(SqliteStore, SlugsAndUniqueValuesArePerOwnerInOwnerCollections) {
  TempStore t;
  ASSERT_TRUE(t.store->runWrite([&](restd::store::WriteTxn& txn) {
    return !txn.insert(t.notes(), note("note_1", "ann", "same", "X")) &&
           !txn.insert(t.notes(), note("note_2", "bob", "same", "X"));
  }));
  Status dup;
  t.store->runWrite([&](restd::store::WriteTxn& txn) {
    dup = txn.insert(t.notes(), note("note_3", "bob", "other", "X"));
    return false;
  });
  EXPECT_EQ(dup.code, StatusCode::uniqueViolation);
  EXPECT_EQ(dup.field, "code");
  bool annTaken = false, carlTaken = true;
  t.store->runWrite([&](restd::store::WriteTxn& txn) {
    EXPECT_FALSE(txn.slugTaken(t.notes(), "ann", "same", annTaken));
    EXPECT_FALSE(txn.slugTaken(t.notes(), "carl", "same", carlTaken));
    return false;
  });
  EXPECT_TRUE(annTaken);
  EXPECT_FALSE(carlTaken);
  restd::store::Record found;
  ASSERT_FALSE(t.store->get(t.notes(), "same", found, {"bob", false}));
  EXPECT_EQ(found.id, "note_2");
  EXPECT_TRUE(t.store->get(t.notes(), "same", found, {"carl", false}));  // not carl's: not found
}

TEST(SqliteStore, AFailingSlugProbeIsAnErrorNotTaken) {
  TempStore t;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((t.dir / "t.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "DROP TABLE notes", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  Status e;
  bool taken = true;
  t.store->runWrite([&](restd::store::WriteTxn& txn) {
    e = txn.slugTaken(t.notes(), "ann", "x", taken);
    return false;
  });
  EXPECT_TRUE(e);
  EXPECT_FALSE(taken);
}

TEST(SqliteStore, AJobThatThrowsUndoesOnlyItself) {
  TempStore t;
  std::promise<bool> first, second;
  t.store->submitWrite([](restd::store::WriteTxn&) -> bool { throw std::runtime_error("boom"); },
                       [&](bool committed) { first.set_value(committed); });
  t.store->submitWrite(
      [&](restd::store::WriteTxn& txn) { return !txn.insert(t.notes(), note("note_9", "ann", "s", "C")); },
      [&](bool committed) { second.set_value(committed); });
  first.get_future().get();
  EXPECT_TRUE(second.get_future().get());
  restd::store::Record r;
  EXPECT_FALSE(t.store->get(t.notes(), "note_9", r));
}

// A reader that opens while the file is moved away must not create an empty
// database at its path: the real file, put back, would then be shadowed for
// that connection ("no such table"). Each new thread starts with an empty
// reader slot, so it opens a connection of its own; the file check is cached
// for 200 ms, so those opens happen while it still says "healthy".
TEST(SqliteStore, AReaderOpenedWhileTheFileIsGoneCreatesNothing) {
  TempStore t;
  t.store->runWrite([&](restd::store::WriteTxn& txn) { return !txn.insert(t.notes(), note("note_1", "ann", "s", "C")); });
  auto db = t.dir / "t.db", away = t.dir / "t.db.away";
  auto readOnNewThread = [&] {
    Status e;
    std::thread([&] {
      restd::store::Record r;
      e = t.store->get(t.notes(), "note_1", r);
    }).join();
    return e;
  };
  EXPECT_FALSE(readOnNewThread());
  std::filesystem::rename(db, away);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(readOnNewThread()) << "read " << i << " with the file gone";
  EXPECT_FALSE(std::filesystem::exists(db)) << "a reader created a database at the path";
  std::filesystem::rename(away, db);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past the cached file check
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(readOnNewThread()) << "read " << i << " after the file came back";

  std::string error;
  EXPECT_EQ(restd::store::SqliteConnection::open((t.dir / "none.db").string(), t.config.storage, error), nullptr);
  EXPECT_FALSE(std::filesystem::exists(t.dir / "none.db"));
}
