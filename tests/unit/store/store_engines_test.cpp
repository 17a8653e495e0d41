#include <algorithm>
// Both storage engines through the one Store interface, on real storage:
// a SQLite file, and a fresh database of the test PostgreSQL cluster
// (RESTD_TEST_PG_STATE, set by ctest's `pg` fixture; skipped without it).
// Several Store objects on one database stand for several restd nodes.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>

#include "auth/lockout.h"
#include "common/json.h"
#include "common/time.h"
#include "config/config.h"
#include "store/sql/sql_builder.h"
#include "store/store.h"
#include "test_loop.h"

namespace {

using restd::store::Record;
using restd::Status;
using restd::StatusCode;
using restd::store::WriteTxn;

constexpr std::string_view kToml = R"toml(
[collections.notes]
slug_from = "title"
[collections.notes.fields]
title = { type = "string" }
code = { type = "string", unique = true }
hits = { type = "integer" }
score = { type = "number" }
meta = { type = "object" }
[collections.marks]
[collections.marks.fields]
label = { type = "string" }
)toml";

std::string pgBaseUrl() {
  const char* state = std::getenv("RESTD_TEST_PG_STATE");
  if (!state) return {};
  std::ifstream in(std::filesystem::path(state) / "url");
  std::string url;
  std::getline(in, url);
  return url;
}

bool pgCommand(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, sql.c_str());
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  PQfinish(c);
  return ok;
}

// One database and any number of stores ("nodes") on it.
class Storage {
 public:
  explicit Storage(const std::string& engine) {
    restd::ConfigErrors errors;
    auto parsed = restd::parseConfig(kToml, "test.toml", errors);
    if (!parsed) throw std::runtime_error("the test's config does not load");
    config_ = *parsed;
    std::string tag = std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}());
    if (engine == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("restd-engines-" + tag);
      std::filesystem::create_directories(dir_);
      config_.storage.url = "sqlite:" + (dir_ / "t.db").string();
    } else {
      base_ = pgBaseUrl();
      database_ = "restd_unit_" + tag;
      if (!pgCommand(base_ + "/postgres", "CREATE DATABASE \"" + database_ + "\"")) base_.clear();
      config_.storage.url = base_ + "/" + database_;
    }
  }
  ~Storage() {
    for (auto& s : stores_) s->close();
    stores_.clear();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!base_.empty()) pgCommand(base_ + "/postgres", "DROP DATABASE IF EXISTS \"" + database_ + "\" WITH (FORCE)");
  }
  bool usable() const { return !dir_.empty() || !base_.empty(); }
  // A new node: opened and migrated.
  restd::store::Store& node() {
    std::string error;
    auto s = restd::store::openStore(config_, error);
    EXPECT_TRUE(s) << error;
    bool destructive = false;
    EXPECT_TRUE(s->migrate(config_, false, destructive, error)) << error;
    stores_.push_back(std::move(s));
    return *stores_.back();
  }
  const restd::Config& config() const { return config_; }
  const restd::CollectionSpec& notes() const { return config_.collections.front(); }
  const restd::CollectionSpec& marks() const { return config_.collections.at(1); }
  // Runs `sql` on the test's database, as another client would.
  bool sql(const std::string& text) const { return pgCommand(config_.storage.url, text); }

 private:
  restd::Config config_;
  std::filesystem::path dir_;
  std::string base_, database_;
  std::vector<std::unique_ptr<restd::store::Store>> stores_;
};

Record note(const std::string& id, const std::string& json) {
  Record r;
  r.id = id;
  r.owner = "ann";
  r.createdAt = r.updatedAt = 1;
  r.version = 1;
  r.values.Parse(json.c_str());
  return r;
}

class StoreEngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    storage_ = std::make_unique<Storage>(GetParam());
    if (!storage_->usable()) GTEST_SKIP() << "no PostgreSQL cluster (run through ctest: the pg fixture starts one)";
  }
  std::unique_ptr<Storage> storage_;
};

TEST_P(StoreEngineTest, ValuesRoundTripExactlyNulMarkerBackslashMemberOrderAndNumbers) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  // U+0000 (which PostgreSQL's text cannot hold), a value starting with the
  // escape marker U+FDD0, backslashes, nested members out of order, an
  // integer-valued and a fractional number.
  std::string json = R"({"title":"a\u0000b\\c","code":"\uFDD0x\\0","hits":9007199254740993,"score":0.1,)"
                     R"("meta":{"z":1,"a":[true,null,"\u0000"],"m":{"y":2,"b":3}}})";
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_1", json)); }));
  Record got;
  ASSERT_FALSE(s.get(c, "note_1", got));
  EXPECT_EQ(restd::toJsonText(got.values), restd::toJsonText(note("x", json).values));
  // Equality on an escaped value finds it.
  restd::store::ListQuery q;
  q.filters.push_back({"code", restd::store::FilterOp::eq, {std::string("\xEF\xB7\x90x\\0")}});
  restd::store::ListResult res;
  ASSERT_FALSE(s.list(c, q, res));
  ASSERT_EQ(res.records.size(), 1u);
  EXPECT_EQ(res.total, 1);
}

// The same list read again and again (which SQLite answers from a page
// remembered at the database's version after the second read) gives what
// the tables hold: the same page while nothing changes, and every commit of
// this node or of another as soon as the node's reads see it.
TEST_P(StoreEngineTest, AListReadAgainAndAgainShowsEveryCommitOfEitherNode) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(a.runWrite([&](WriteTxn& t) {
    return !t.insert(c, note("note_2", R"({"hits":1,"title":"two"})")) &&
           !t.insert(c, note("note_3", R"({"hits":1,"title":"three"})")) &&
           !t.insert(c, note("note_4", R"({"hits":2,"title":"four"})"));
  }));
  auto page = [&](int64_t hits) {
    restd::store::ListQuery q;
    q.filters.push_back({"hits", restd::store::FilterOp::eq, {int64_t(hits)}});
    q.limit = 1;
    restd::store::ListResult res;
    EXPECT_FALSE(a.list(c, q, res));
    std::string text;
    for (const auto& r : res.records)
      text += r.id + " v" + std::to_string(r.version) + " " + restd::toJsonText(r.values) + ";";
    return text + (res.hasMore ? " more" : "") + " total " + std::to_string(res.total.value_or(-1));
  };
  const std::string first = R"(note_2 v1 {"title":"two","code":null,"hits":1,"score":null,"meta":null}; more total 2)";
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(page(1), first) << "read " << i;
    EXPECT_EQ(page(2), R"(note_4 v1 {"title":"four","code":null,"hits":2,"score":null,"meta":null}; total 1)");
  }
  // Changed on this node: the next read shows it.
  ASSERT_TRUE(a.runWrite([&](WriteTxn& t) {
    Record r;
    if (t.get(c, "note_2", r)) return false;
    r.values["title"].SetString("renamed");
    r.version = 2;
    return !t.update(c, r);
  }));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(page(1), R"(note_2 v2 {"title":"renamed","code":null,"hits":1,"score":null,"meta":null}; more total 2)");
  // Committed by another node (on SQLite, another process on the file): seen
  // once this node's reads see the commit, which may take a moment.
  ASSERT_TRUE(b.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_1", R"({"hits":1,"title":"one"})")); }));
  const std::string after = R"(note_1 v1 {"title":"one","code":null,"hits":1,"score":null,"meta":null}; more total 3)";
  std::string got;
  for (int i = 0; i < 200 && (got = page(1)) != after; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(got, after);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(page(1), after);
}

TEST_P(StoreEngineTest, AUniqueViolationNamesItsFieldAndTheJobGoesOn) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_1", R"({"code":"A"})")); }));
  Status dupInsert, dupId, dupUpdate, after;
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    dupInsert = t.insert(c, note("note_2", R"({"code":"A"})"));
    dupId = t.insert(c, note("note_1", R"({"code":"B"})"));
    EXPECT_FALSE(t.insert(c, note("note_3", R"({"code":"C"})")));
    dupUpdate = t.update(c, note("note_3", R"({"code":"A"})"));
    after = t.insert(c, note("note_4", R"({"code":"D"})"));  // the transaction is still usable
    return true;
  }));
  EXPECT_EQ(dupInsert.code, StatusCode::uniqueViolation);
  EXPECT_EQ(dupInsert.field, "code");
  EXPECT_EQ(dupId.code, StatusCode::uniqueViolation);
  EXPECT_EQ(dupId.field, "id");
  EXPECT_EQ(dupUpdate.code, StatusCode::uniqueViolation);
  EXPECT_EQ(dupUpdate.field, "code");
  EXPECT_FALSE(after);
  restd::store::ListResult res;
  ASSERT_FALSE(s.list(c, {}, res));
  EXPECT_EQ(res.total, 3);  // note_1, note_3 (code C), note_4
}

TEST_P(StoreEngineTest, LikeIsCaseInsensitiveForAsciiAndOtherwiseLiteral) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    return !t.insert(c, note("note_1", R"({"title":"Hello World"})")) &&
           !t.insert(c, note("note_2", R"({"title":"100% *sure*"})")) &&
           !t.insert(c, note("note_3", R"({"title":"ÉCOLE"})"));
  }));
  auto count = [&](const std::string& pattern) {
    restd::store::ListQuery q;
    q.filters.push_back({"title", restd::store::FilterOp::like, {pattern}});
    restd::store::ListResult res;
    EXPECT_FALSE(s.list(c, q, res));
    return res.total.value_or(-1);
  };
  EXPECT_EQ(count("hello*"), 1);
  EXPECT_EQ(count("*WORLD"), 1);
  EXPECT_EQ(count("100%*"), 1);     // % is literal
  EXPECT_EQ(count("1_0*"), 0);      // so is _
  EXPECT_EQ(count("*\\*sure\\*"), 1);
  EXPECT_EQ(count("école"), 0);     // only ASCII folds
  EXPECT_EQ(count("ÉCOLE"), 1);
}

TEST_P(StoreEngineTest, NullsSortAsTheSmallestValueAndKeysetPagesAgree) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    return !t.insert(c, note("note_1", R"({"hits":2})")) && !t.insert(c, note("note_2", R"({})")) &&
           !t.insert(c, note("note_3", R"({"hits":1})")) && !t.insert(c, note("note_4", R"({})"));
  }));
  for (bool desc : {false, true}) {
    restd::store::ListQuery q;
    q.sort.push_back({"hits", desc});
    q.limit = 10;
    restd::store::ListResult all;
    ASSERT_FALSE(s.list(c, q, all));
    std::vector<std::string> ids;
    for (auto& r : all.records) ids.push_back(r.id);
    std::vector<std::string> want = desc ? std::vector<std::string>{"note_1", "note_3", "note_4", "note_2"}
                                         : std::vector<std::string>{"note_2", "note_4", "note_3", "note_1"};
    EXPECT_EQ(ids, want);
    // Page by one through the keyset and meet the same order.
    std::vector<std::string> paged;
    q.limit = 1;
    q.count = false;
    for (int i = 0; i < 6; ++i) {
      restd::store::ListResult page;
      ASSERT_FALSE(s.list(c, q, page));
      if (page.records.empty()) break;
      const Record& last = page.records.back();
      paged.push_back(last.id);
      const auto& v = last.values["hits"];
      q.after = std::vector<restd::store::SqlValue>{
          v.IsNull() ? restd::store::SqlValue() : restd::store::SqlValue(v.GetInt64()), last.id};
    }
    EXPECT_EQ(paged, ids);
  }
}

TEST_P(StoreEngineTest, NodesStartingTogetherMigrateOnce) {
  std::vector<std::future<bool>> starts;
  std::vector<std::unique_ptr<restd::store::Store>> nodes(4);
  for (auto& n : nodes)
    starts.push_back(std::async(std::launch::async, [&] {
      std::string error;
      n = restd::store::openStore(storage_->config(), error);
      bool destructive = false;
      bool ok = n && n->migrate(storage_->config(), false, destructive, error);
      if (!ok) ADD_FAILURE() << error;
      return ok;
    }));
  for (auto& f : starts) EXPECT_TRUE(f.get());
  for (auto& n : nodes)
    if (n) n->close();
}

TEST_P(StoreEngineTest, ReadModifyWriteOnTwoNodesLosesNoUpdate) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(a.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_1", R"({"hits":0})")); }));
  auto bump = [&](restd::store::Store& s) {
    for (int i = 0; i < 40; ++i)
      s.runWrite([&](WriteTxn& t) {
        Record r;
        if (t.get(c, "note_1", r)) return false;
        r.values["hits"].SetInt64(r.values["hits"].GetInt64() + 1);
        return !t.update(c, r);
      });
  };
  std::thread ta(bump, std::ref(a)), tb(bump, std::ref(b));
  ta.join();
  tb.join();
  Record r;
  ASSERT_FALSE(b.get(c, "note_1", r));
  EXPECT_EQ(r.values["hits"].GetInt64(), 80);
}

TEST_P(StoreEngineTest, TwoNodesRacingOnOneIdempotencyKeyWriteOnce) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  const auto& c = storage_->notes();
  std::atomic<bool> aHasLooked{false};
  // Each node: look the key up; when absent, write a record and keep the reply.
  auto attempt = [&](restd::store::Store& s, const std::string& id, bool slow) {
    bool replayed = false;
    s.runWrite([&](WriteTxn& t) {
      restd::store::StoredReply stored;
      auto e = t.getStoredReply("user_1", "key-1", 0, stored);
      if (slow) aHasLooked = true;
      if (!e) {
        replayed = true;
        return false;
      }
      if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      if (t.insert(c, note(id, R"({})"))) return false;
      restd::store::StoredReply reply{"hash", 201, "application/json", "{}", id, restd::nowMillis()};
      return !t.putStoredReply("user_1", "key-1", reply);
    });
    return replayed;
  };
  auto first = std::async(std::launch::async, [&] { return attempt(a, "note_a", true); });
  while (!aHasLooked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool secondReplayed = attempt(b, "note_b", false);
  EXPECT_FALSE(first.get());
  EXPECT_TRUE(secondReplayed);
  restd::store::ListResult res;
  ASSERT_FALSE(b.list(c, {}, res));
  EXPECT_EQ(res.total, 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreEngineTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(SqlBuilder, LikePatternsEscapeSqlWildcardsAndKeepTheApisOwn) {
  EXPECT_EQ(restd::store::sql::likePattern("a*\\*%_\\x"), "a%*\\%\\_\\\\x");
  EXPECT_EQ(restd::store::sql::param(restd::store::sql::Dialect::sqlite, 3), "?3");
  EXPECT_EQ(restd::store::sql::param(restd::store::sql::Dialect::postgres, 3), "$3");
}

}  // namespace

// The lock-out's rule, and its failures shared by two nodes of one database.
TEST(Lockout, LocksAfterTheLimitUntilTheOldestCountedFailureLeavesTheWindow) {
  using restd::auth::Lockout;
  EXPECT_FALSE(Lockout::lockedFor({1000, 2000}, 3, 60'000, 3000));
  EXPECT_EQ(Lockout::lockedFor({1000, 2000, 3000}, 3, 60'000, 3000), 58);  // free at 61 s
  EXPECT_EQ(Lockout::lockedFor({1000, 2000, 3000, 4000}, 3, 60'000, 61'500), 1);  // 2000 counts now, free at 62 s
  EXPECT_FALSE(Lockout::lockedFor({1000, 2000, 3000}, 3, 60'000, 61'000));
}

TEST_P(StoreEngineTest, LoginFailuresCountedOnOneNodeLockOnTheOther) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  restd::auth::Lockout onA(a, 3, std::chrono::seconds(60)), onB(b, 3, std::chrono::seconds(60));
  int64_t now = restd::nowMillis();
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(a.runWrite([&](WriteTxn& t) { return !onA.recordFailure(t, "u:ann", now + i); }));
  auto check = onB.check("u:ann", now + 10);
  EXPECT_FALSE(check.storageDown);
  EXPECT_TRUE(check.lockedFor.has_value());
  EXPECT_FALSE(onB.check("u:bob", now + 10).lockedFor.has_value());
  ASSERT_TRUE(b.runWrite([&](WriteTxn& t) { return !onB.reset(t, "u:ann"); }));
  EXPECT_FALSE(onA.check("u:ann", now + 10).anyFailures);
}

TEST_P(StoreEngineTest, InsertManyFailsOnlyTheRecordsWithTakenValuesFirstOneWins) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_0", R"({"code":"OLD"})")); }));
  // 1,500 records: more than one multi-row statement in PostgreSQL.
  std::vector<Record> records;
  for (int i = 0; i < 1500; ++i) records.push_back(note("note_n" + std::to_string(i), R"({"code":"C)" + std::to_string(i) + R"("})"));
  records[10] = note("note_dup_old", R"({"code":"OLD"})");   // taken by a stored record
  records[700] = note("note_dup_new", R"({"code":"C3"})");   // taken by record 3 of this batch
  records[1499] = note("note_0", R"({"code":"FRESH"})");     // a taken id
  records[1498] = note("note_n5", R"({"code":"OTHER"})");    // an id record 5 of this batch has (an import)
  std::vector<const Record*> ptrs;
  for (auto& r : records) ptrs.push_back(&r);
  std::vector<Status> errors;
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    t.insertMany(c, ptrs, errors);
    return true;
  }));
  ASSERT_EQ(errors.size(), records.size());
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i == 10 || i == 700) {
      EXPECT_EQ(errors[i].code, StatusCode::uniqueViolation) << i;
      EXPECT_EQ(errors[i].field, "code") << i;
    } else if (i == 1499 || i == 1498) {
      EXPECT_EQ(errors[i].code, StatusCode::uniqueViolation);
      EXPECT_EQ(errors[i].field, "id");
    } else {
      EXPECT_FALSE(errors[i]) << i << " " << errors[i].detail;
    }
  }
  restd::store::ListResult res;
  ASSERT_FALSE(s.list(c, {}, res));
  EXPECT_EQ(res.total, 1 + 1500 - 4);
  Record got;
  ASSERT_FALSE(s.get(c, "note_n3", got));
  EXPECT_STREQ(got.values["code"].GetString(), "C3");
  ASSERT_FALSE(s.get(c, "note_n5", got));
  EXPECT_STREQ(got.values["code"].GetString(), "C5");
}

TEST_P(StoreEngineTest, ReservedSlugsAreAnsweredAtOnceAndHeldAgainstOtherNodesUntilTheCommit) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  const auto& c = storage_->notes();
  Record first = note("note_1", R"({"title":"a"})");
  first.slug = "a";
  Record second = note("note_2", R"({"title":"b"})");
  second.slug = "b-2";
  ASSERT_TRUE(a.runWrite([&](WriteTxn& t) { return !t.insert(c, first) && !t.insert(c, second); }));
  const std::vector<std::pair<std::string, std::string>> asked = {{"ann", "a"}, {"ann", "b"}, {"ann", "b-2"}, {"bob", "c"}};
  const std::vector<bool> expected = {true, false, true, false};
  for (bool reserve : {false, true}) {
    std::vector<bool> taken;
    ASSERT_TRUE(a.runWrite([&](WriteTxn& t) {
      if (reserve && t.reserveSlugs(c)) return false;
      return !t.slugsTaken(c, asked, taken);
    }));
    EXPECT_EQ(taken, expected) << (reserve ? "reserved" : "not reserved");
  }
  // A job that reserved the slugs makes another node's slug choice wait for
  // its commit, which then sees the slug taken.
  std::promise<void> reserved;
  std::thread importer([&] {
    a.runWrite([&](WriteTxn& t) {
      if (t.reserveSlugs(c)) return false;
      reserved.set_value();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      Record r = note("note_3", R"({"title":"x"})");
      r.slug = "x";
      return !t.insert(c, r);
    });
  });
  reserved.get_future().wait();
  bool taken = false;
  EXPECT_TRUE(b.runWrite([&](WriteTxn& t) { return !t.slugTaken(c, "ann", "x", taken); }));
  importer.join();
  EXPECT_TRUE(taken);
}

TEST_P(StoreEngineTest, AReadSnapshotSeesOneInstantInIdOrderWhileOthersCommit) {
  auto& s = storage_->node();
  auto& other = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    for (int i = 0; i < 5000; ++i)
      if (t.insert(c, note("note_" + std::string(6 - std::to_string(i).size(), '0') + std::to_string(i), "{}")))
        return false;
    return !t.addUser(restd::store::User{"user_1", "root", "admin", "hash-of-root", 1});
  }));
  std::vector<std::string> seen;
  int64_t counted = 0;
  size_t users = 0;
  Status e = s.readSnapshot([&](restd::store::ReadSnapshot& snap) -> Status {
    if (auto e = snap.count(c, counted)) return e;
    // Another node commits while the snapshot reads: it must see none of it.
    EXPECT_TRUE(other.runWrite([&](WriteTxn& t) {
      return !t.insert(c, note("note_000000a", "{}")) && !t.remove(c, "note_000007");
    }));
    std::vector<restd::store::User> u;
    if (auto e = snap.users(u)) return e;
    users = u.size();
    if (!u.empty()) {
      EXPECT_EQ(u[0].passwordHash, "hash-of-root");
    }
    return snap.records(c, [&](Record& r) {
      seen.push_back(r.id);
      return true;
    });
  });
  ASSERT_FALSE(e) << e.detail;
  EXPECT_EQ(counted, 5000);
  EXPECT_EQ(users, 1u);
  ASSERT_EQ(seen.size(), 5000u);   // more than one fetch of PostgreSQL's cursor
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen[7], "note_000007");
  // Stopping early is not an error.
  size_t taken = 0;
  EXPECT_FALSE(s.readSnapshot([&](restd::store::ReadSnapshot& snap) {
    return snap.records(c, [&](Record&) { return ++taken < 3; });
  }));
  EXPECT_EQ(taken, 3u);
}

TEST_P(StoreEngineTest, SettingsAreSharedByNodesAndRemovable) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  std::optional<std::string> v;
  ASSERT_FALSE(b.readSetting("maintenance", v));
  EXPECT_FALSE(v);
  ASSERT_TRUE(a.runWrite([](WriteTxn& t) { return !t.putSetting("maintenance", std::string("30")); }));
  ASSERT_FALSE(b.readSetting("maintenance", v));
  EXPECT_EQ(v, "30");
  ASSERT_TRUE(a.runWrite([](WriteTxn& t) { return !t.putSetting("maintenance", std::string("5")); }));
  ASSERT_FALSE(b.readSetting("maintenance", v));
  EXPECT_EQ(v, "5");
  ASSERT_TRUE(b.runWrite([](WriteTxn& t) { return !t.putSetting("maintenance", std::nullopt); }));
  ASSERT_FALSE(a.readSetting("maintenance", v));
  EXPECT_FALSE(v);
}

TEST_P(StoreEngineTest, ANestedFailureUndoesOnlyItsOwnChanges) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) {
    EXPECT_FALSE(t.insert(c, note("note_kept", R"({"title":"kept"})")));
    EXPECT_FALSE(t.nested([&] {
      EXPECT_FALSE(t.insert(c, note("note_undone", R"({"title":"undone"})")));
      return false;
    }));
    EXPECT_FALSE(t.nested([&] { return !t.insert(c, note("note_nested", R"({"title":"nested"})")); }));
    return true;
  }));
  Record r;
  EXPECT_FALSE(s.get(c, "note_kept", r));
  EXPECT_FALSE(s.get(c, "note_nested", r));
  EXPECT_EQ(s.get(c, "note_undone", r).code, StatusCode::notFound);
}

TEST_P(StoreEngineTest, SharedRateBucketsNeverGrantMoreThanTheyHold) {
  auto& a = storage_->node();
  restd::store::RateGrant g;
  if (!a.sharesRateLimits()) {  // one process owns SQLite: its buckets are in memory (RateLimiterTest)
    EXPECT_EQ(a.takeRateTokens("user:ann", 20, 0.001, 3, g).code, StatusCode::internal);
    return;
  }
  auto& b = storage_->node();
  int64_t granted = 0;
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE((i % 2 ? a : b).takeRateTokens("user:ann", 20, 0.001, 3, g));
    granted += g.granted;
  }
  EXPECT_EQ(granted, 20);  // a bucket of 20, asked for 30 by two nodes
  EXPECT_LT(g.left, 1.0);
  ASSERT_FALSE(a.returnRateTokens("user:ann", 20, 2));
  ASSERT_FALSE(b.takeRateTokens("user:ann", 20, 0.001, 3, g));
  EXPECT_EQ(g.granted, 2);
  ASSERT_FALSE(b.takeRateTokens("user:bob", 20, 0.001, 3, g));  // another key is full
  EXPECT_EQ(g.granted, 3);
  EXPECT_NEAR(g.left, 17.0, 0.01);
}

TEST_P(StoreEngineTest, TheEventLogKeepsCommitOrderAndOnlyCommittedEvents) {
  auto& a = storage_->node();
  auto& b = storage_->node();
  auto event = [](std::string id, int64_t at) {
    return restd::store::StoredEvent{0, "notes", "created", std::move(id), "ann", "{\"id\":1}", at};
  };
  int64_t oldest = -1, newest = -1;
  ASSERT_FALSE(a.eventBounds(oldest, newest));
  EXPECT_EQ(oldest, 0);
  EXPECT_EQ(newest, 0);
  ASSERT_TRUE(a.runWrite([&](WriteTxn& t) { return !t.appendEvent(event("n1", 100)) && !t.appendEvent(event("n2", 200)); }));
  EXPECT_FALSE(b.runWrite([&](WriteTxn& t) { return !t.appendEvent(event("undone", 250)) && false; }));  // a job that fails
  ASSERT_TRUE(b.runWrite([&](WriteTxn& t) { return !t.appendEvent(event("n3", 300)); }));
  std::vector<restd::store::StoredEvent> got;
  ASSERT_FALSE(a.readEvents(0, 10, got));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].recordId, "n1");
  EXPECT_EQ(got[1].recordId, "n2");
  EXPECT_EQ(got[2].recordId, "n3");
  EXPECT_LT(got[0].seq, got[1].seq);
  EXPECT_LT(got[1].seq, got[2].seq);
  EXPECT_EQ(got[2].data, "{\"id\":1}");
  EXPECT_EQ(got[2].owner, "ann");
  ASSERT_FALSE(a.readEvents(got[0].seq, 1, got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].recordId, "n2");
  // Pruning everything older than a time keeps the newest event all the same.
  ASSERT_TRUE(a.runWrite([](WriteTxn& t) { return !t.pruneEvents(1'000'000); }));
  ASSERT_FALSE(b.readEvents(0, 10, got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].recordId, "n3");
  ASSERT_FALSE(b.eventBounds(oldest, newest));
  EXPECT_EQ(oldest, got[0].seq);
  EXPECT_EQ(newest, got[0].seq);
}

// ---------------------------------------------------------------- reads without blocking (Store::getAsync)

namespace {

using restd::testing::TestLoop;

// One answer of a getAsync().
// `done` is set last, and from whichever thread answered (an I/O thread, or
// the pipeline's storage thread for a redone read).
struct Answer {
  std::atomic<bool> done{false};
  StatusCode status = StatusCode::ok;
  std::string id;
};

// Asks for `key`; false when the store says to use get() instead.
bool ask(restd::store::Store& s, const restd::CollectionSpec& c, const std::string& key, Answer& out) {
  restd::store::GetDone done = [&out](Status e, Record& r) {
    out.status = e.code;
    out.id = r.id;
    out.done.store(true, std::memory_order_release);
  };
  return s.getAsync(c, key, {}, done);
}

// The store's pipelines connect on a thread of their own: until then
// getAsync() says no.
bool whenAccepting(restd::store::Store& s, TestLoop& loop, const restd::CollectionSpec& c) {
  auto probe = std::make_shared<Answer>();
  bool sent = false;
  loop.runUntil([&] { return (sent = sent || ask(s, c, "probe", *probe)); }, std::chrono::seconds(10));
  return sent && loop.runUntil([&] { return probe->done.load(); }, std::chrono::seconds(10));
}

double metric(restd::store::Store& s, const std::string& name) {
  restd::Metrics m({"x"});
  s.registerMetrics(m);
  std::string text = m.render();
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

}  // namespace

TEST_P(StoreEngineTest, ReadsAskedTogetherAreAnsweredInOrderWithoutBlockingTheLoop) {
  auto& s = storage_->node();
  const auto& c = storage_->notes();
  Record a = note("note_1", R"({"title":"a"})");
  a.slug = "a";
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) { return !t.insert(c, a) && !t.insert(c, note("note_2", "{}")); }));
  TestLoop loop;
  s.attachLoop(loop);
  if (GetParam() == "sqlite") {
    // SQLite's reads do not wait on a network: get() it is.
    Answer unused;
    EXPECT_FALSE(ask(s, c, "note_1", unused));
    s.detachLoop();
    return;
  }
  ASSERT_TRUE(whenAccepting(s, loop, c));
  double before = metric(s, "restd_storage_pipelined_reads_total");
  // Asked before the loop turns: one batch, one Sync.
  const std::vector<std::pair<std::string, std::string>> asked = {
      {"note_1", "note_1"}, {"a", "note_1"}, {"note_9", ""}, {"note_2", "note_2"}, {"b", ""}};
  std::vector<Answer> answers(40);
  for (size_t i = 0; i < answers.size(); ++i) ASSERT_TRUE(ask(s, c, asked[i % asked.size()].first, answers[i]));
  ASSERT_TRUE(loop.runUntil([&] { return std::all_of(answers.begin(), answers.end(), [](auto& x) { return x.done.load(); }); },
                            std::chrono::seconds(10)));
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string& want = asked[i % asked.size()].second;
    EXPECT_EQ(answers[i].status, want.empty() ? StatusCode::notFound : StatusCode::ok) << i;
    EXPECT_EQ(answers[i].id, want) << i;
  }
  EXPECT_EQ(metric(s, "restd_storage_pipelined_reads_total") - before, 40);
  // A write answered before the read was asked is seen by it.
  ASSERT_TRUE(s.runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_3", "{}")); }));
  Answer third;
  ASSERT_TRUE(ask(s, c, "note_3", third));
  ASSERT_TRUE(loop.runUntil([&] { return third.done.load(); }, std::chrono::seconds(10)));
  EXPECT_EQ(third.status, StatusCode::ok);
  s.detachLoop();
}

// A PostgreSQL node with one note ("note_1"), a test loop attached and its
// pipelined connection up (SQLite has no pipelined reads: see the test above).
class PipelinedReads : public StoreEngineTest {
 protected:
  void SetUp() override {
    StoreEngineTest::SetUp();
    if (IsSkipped()) return;
    node_ = &storage_->node();
    const auto& c = storage_->notes();
    ASSERT_TRUE(node_->runWrite([&](WriteTxn& t) { return !t.insert(c, note("note_1", "{}")); }));
    node_->attachLoop(loop_);
    ASSERT_TRUE(whenAccepting(*node_, loop_, c));
  }
  void TearDown() override {
    if (node_) node_->detachLoop();
  }
  // Turns the loop until every answer is in (10 s at most).
  bool wait(std::initializer_list<const Answer*> answers) {
    return loop_.runUntil([&] { return std::all_of(answers.begin(), answers.end(), [](auto* a) { return a->done.load(); }); },
                          std::chrono::seconds(10));
  }
  restd::store::Store* node_ = nullptr;
  TestLoop loop_;
};

TEST_P(PipelinedReads, AReadThatFailsInABatchLeavesTheOthersOfItsBatchTheirOwnAnswers) {
  auto& s = *node_;
  const auto& c = storage_->notes();
  // Another client drops the marks table: reading a mark fails (42P01), and
  // PostgreSQL skips the rest of that batch.
  ASSERT_TRUE(storage_->sql("DROP TABLE \"marks\""));
  double redone = metric(s, "restd_storage_pipelined_reads_redone_total");
  Answer mark, first, second;
  ASSERT_TRUE(ask(s, storage_->marks(), "mark_1", mark));
  ASSERT_TRUE(ask(s, c, "note_1", first));
  ASSERT_TRUE(ask(s, c, "note_1", second));
  ASSERT_TRUE(wait({&mark, &first, &second}));
  EXPECT_EQ(mark.status, StatusCode::internal);
  EXPECT_EQ(first.status, StatusCode::ok);
  EXPECT_EQ(second.status, StatusCode::ok);
  EXPECT_EQ(metric(s, "restd_storage_pipelined_reads_redone_total") - redone, 2);
}

TEST_P(PipelinedReads, ReadsInFlightWhenTheConnectionIsLostAreAnsweredAndThePipelineReopens) {
  auto& s = *node_;
  const auto& c = storage_->notes();
  Answer a1, a2, a3;
  for (Answer* a : {&a1, &a2, &a3}) ASSERT_TRUE(ask(s, c, "note_1", *a));
  // Every connection of this node goes (a PostgreSQL restart, a proxy's timeout).
  ASSERT_TRUE(storage_->sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()"));
  ASSERT_TRUE(wait({&a1, &a2, &a3}));
  for (Answer* a : {&a1, &a2, &a3}) EXPECT_EQ(a->status, StatusCode::ok);
  ASSERT_TRUE(whenAccepting(s, loop_, c));  // connected again, by itself
  Answer again;
  ASSERT_TRUE(ask(s, c, "note_1", again));
  ASSERT_TRUE(wait({&again}));
  EXPECT_EQ(again.status, StatusCode::ok);
}

TEST_P(PipelinedReads, AReadHeldUpByALockedTableSendsLaterReadsToThePool) {
  auto& s = *node_;
  const auto& c = storage_->notes();
  PGconn* locker = PQconnectdb(storage_->config().storage.url.c_str());
  ASSERT_EQ(PQstatus(locker), CONNECTION_OK);
  PQclear(PQexec(locker, "BEGIN; LOCK TABLE \"notes\" IN ACCESS EXCLUSIVE MODE"));
  Answer held;
  ASSERT_TRUE(ask(s, c, "note_1", held));
  loop_.runUntil([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_FALSE(held.done);
  Answer later;
  EXPECT_FALSE(ask(s, storage_->marks(), "mark_1", later)) << "a read behind a stalled one must take the pool";
  PQclear(PQexec(locker, "COMMIT"));
  PQfinish(locker);
  ASSERT_TRUE(wait({&held}));
  EXPECT_EQ(held.status, StatusCode::ok);
  Answer after;
  EXPECT_TRUE(ask(s, storage_->marks(), "mark_1", after));
  ASSERT_TRUE(wait({&after}));
  EXPECT_EQ(after.status, StatusCode::notFound);
}

INSTANTIATE_TEST_SUITE_P(Engines, PipelinedReads, ::testing::Values("postgres"),
                         [](const auto& info) { return info.param; });
