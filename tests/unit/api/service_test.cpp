// api::Service below the binary: requests through Service::handle() with a
// fake responder (in_process_api.h), on a real SQLite store. The order of
// checks (SPEC §10), the record handlers, conditional writes, idempotency
// and roles; the e2e suites check the same over sockets, with the HTTP
// layer's part (framing, 304, gzip) on top.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "in_process_api.h"

namespace restd::api::testing {
namespace {

constexpr std::string_view kToml = R"toml(
[collections.things.fields]
name  = { type = "string", required = true }
price = { type = "number", min = 0 }
[collections.notes]
visibility = "owner"
[collections.notes.fields]
text = { type = "string" }
)toml";

std::string reasonOf(const Exchange& r) {
  rapidjson::Document d = r.json();
  if (!d.IsObject() || !d.HasMember("error") || !d["error"].HasMember("reason")) return "(no error: " + r.body + ")";
  return d["error"]["reason"].GetString();
}

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() : api(kToml) {
    key = api.apiKey("tests");
    api.addUser("admin", auth::Role::admin, "admin-password");
    api.addUser("reader", auth::Role::reader, "reader-password");
    api.addUser("writer", auth::Role::writer, "writer-password");
    admin = "Bearer " + api.login("admin", "admin-password", key);
    reader = "Bearer " + api.login("reader", "reader-password", key);
    writer = "Bearer " + api.login("writer", "writer-password", key);
  }

  Exchange post(const std::string& path, const std::string& body, const std::string& who) {
    return api.call("POST", "/api/v2" + path, {{"Authorization", who}, {"Content-Type", "application/json"}}, body);
  }
  Exchange get(const std::string& path, const std::string& who) {
    return api.call("GET", "/api/v2" + path, {{"Authorization", who}});
  }
  std::string create(const std::string& body, const std::string& who) {
    Exchange r = post("/things", body, who);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["data"]["id"].GetString();
  }

  InProcessApi api;
  std::string key, admin, reader, writer;
};

TEST_F(ServiceTest, ChecksComeInTheSpecsOrder) {
  // Unknown path before method, method before Accept, Accept before the
  // envelope, the envelope before the token.
  Exchange r = api.call("DELETE", "/api/v2/nothing", {{"Accept", "image/png"}});
  EXPECT_EQ(r.status, 404);
  r = api.call("PUT", "/api/v2/things", {{"Accept", "image/png"}});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, POST, PATCH, DELETE, OPTIONS");
  r = api.call("GET", "/api/v2/things?envelope=nope", {{"Accept", "image/png"}});
  EXPECT_EQ(r.status, 406);
  r = api.call("GET", "/api/v2/things?envelope=nope");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(reasonOf(r), "unknown_envelope");
  r = api.call("GET", "/api/v2/things");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(reasonOf(r), "token_missing");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"restd\"");
  r = api.call("GET", "/api/v2/things", {{"Authorization", "Bearer " + std::string(40, '0')}});
  EXPECT_EQ(reasonOf(r), "token_expired");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"restd\", error=\"invalid_token\"");
}

TEST_F(ServiceTest, ARecordIsCreatedReadChangedAndDeleted) {
  Exchange made = post("/things", R"({"name":"Lamp","price":12.5})", writer);
  ASSERT_EQ(made.status, 201) << made.body;
  std::string id = made.json()["data"]["id"].GetString();
  EXPECT_EQ(made.header("Location"), "/api/v2/things/" + id);

  Exchange got = get("/things/" + id, reader);
  ASSERT_EQ(got.status, 200);
  EXPECT_STREQ(got.json()["data"]["name"].GetString(), "Lamp");
  std::string etag = got.header("ETag");
  ASSERT_FALSE(etag.empty());

  Exchange patched = api.call("PATCH", "/api/v2/things/" + id,
                              {{"Authorization", writer}, {"Content-Type", "application/json"}, {"If-Match", etag}},
                              R"({"price":3})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json()["data"]["version"].GetInt(), 2);
  // The old ETag no longer matches: 412, and nothing changes.
  Exchange stale = api.call("PATCH", "/api/v2/things/" + id,
                            {{"Authorization", writer}, {"Content-Type", "application/json"}, {"If-Match", etag}},
                            R"({"price":4})");
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(get("/things/" + id, reader).json()["data"]["price"].GetDouble(), 3);

  Exchange deleted = api.call("DELETE", "/api/v2/things/" + id, {{"Authorization", writer}});
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(get("/things/" + id, reader).status, 404);
}

TEST_F(ServiceTest, BodiesAreCheckedBeforeAnythingIsWritten) {
  Exchange r = api.call("POST", "/api/v2/things", {{"Authorization", writer}, {"Content-Type", "text/plain"}}, "x");
  EXPECT_EQ(r.status, 415);
  r = post("/things", R"({"name":)", writer);
  EXPECT_EQ(r.status, 400) << r.body;
  r = post("/things", R"({"price":-1,"colour":"red"})", writer);
  EXPECT_EQ(r.status, 422);
  rapidjson::Document d = r.json();
  ASSERT_TRUE(d["error"].HasMember("details")) << r.body;
  EXPECT_EQ(d["error"]["details"].Size(), 3u);  // name required, price min, colour unknown
  Exchange list = get("/things?count=true", reader);
  EXPECT_EQ(list.json()["data"].Size(), 0u) << list.body;
}

TEST_F(ServiceTest, RolesAndOwnersDecideWhatACallerMayDo) {
  EXPECT_EQ(post("/things", R"({"name":"x"})", reader).status, 403);
  std::string mine = create(R"({"name":"writer's"})", writer);
  // Another writer's record may be read but not changed; admins change anything.
  api.addUser("other", auth::Role::writer, "other-password");
  std::string other = "Bearer " + api.login("other", "other-password", key);
  EXPECT_EQ(get("/things/" + mine, other).status, 200);
  Exchange r = api.call("PATCH", "/api/v2/things/" + mine,
                        {{"Authorization", other}, {"Content-Type", "application/json"}}, R"({"name":"no"})");
  EXPECT_EQ(r.status, 403) << r.body;
  r = api.call("PATCH", "/api/v2/things/" + mine, {{"Authorization", admin}, {"Content-Type", "application/json"}},
               R"({"name":"yes"})");
  EXPECT_EQ(r.status, 200) << r.body;
  // visibility = "owner": another user's note does not exist for them.
  Exchange note = post("/notes", R"({"text":"private"})", writer);
  ASSERT_EQ(note.status, 201) << note.body;
  std::string noteId = note.json()["data"]["id"].GetString();
  EXPECT_EQ(get("/notes/" + noteId, other).status, 404);
  EXPECT_EQ(get("/notes/" + noteId, writer).status, 200);
  EXPECT_EQ(get("/notes/" + noteId, admin).status, 200);
}

TEST_F(ServiceTest, ARetriedPostWithTheSameIdempotencyKeyIsAnsweredFromTheFirst) {
  auto send = [&](const std::string& body) {
    return api.call("POST", "/api/v2/things",
                    {{"Authorization", writer}, {"Content-Type", "application/json"}, {"Idempotency-Key", "k-1"}},
                    body);
  };
  Exchange first = send(R"({"name":"once"})");
  ASSERT_EQ(first.status, 201) << first.body;
  Exchange again = send(R"({"name":"once"})");
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.json()["data"]["id"], first.json()["data"]["id"]);
  Exchange other = send(R"({"name":"twice"})");
  EXPECT_EQ(other.status, 422);
  EXPECT_EQ(reasonOf(other), "idempotency_key_reused");
  EXPECT_EQ(get("/things", reader).json()["data"].Size(), 1u);
}

TEST_F(ServiceTest, ABatchReportsEachItemAndAtomicBatchesWriteNothingOnAFailure) {
  Exchange atomic = post("/things", R"([{"name":"a"},{"price":-1}])", writer);
  EXPECT_EQ(atomic.status, 422) << atomic.body;
  EXPECT_EQ(reasonOf(atomic), "batch_invalid");
  EXPECT_EQ(get("/things", reader).json()["data"].Size(), 0u);
  Exchange partial = post("/things?atomic=false", R"([{"name":"a"},{"price":-1},{"name":"c"}])", writer);
  EXPECT_EQ(partial.status, 207) << partial.body;
  EXPECT_EQ(get("/things", reader).json()["data"].Size(), 2u);
}

TEST_F(ServiceTest, ListsPageFilterAndSort) {
  for (const char* body : {R"({"name":"c","price":3})", R"({"name":"a","price":1})", R"({"name":"b","price":2})"})
    create(body, writer);
  Exchange page = get("/things?sort=-price&per_page=2", reader);
  ASSERT_EQ(page.status, 200) << page.body;
  rapidjson::Document d = page.json();
  ASSERT_EQ(d["data"].Size(), 2u);
  EXPECT_STREQ(d["data"][0]["name"].GetString(), "c");
  EXPECT_STREQ(d["data"][1]["name"].GetString(), "b");
  EXPECT_NE(page.header("Link").find("rel=\"next\""), std::string::npos) << page.header("Link");
  Exchange filtered = get("/things?name=a", reader);
  EXPECT_EQ(filtered.json()["data"].Size(), 1u) << filtered.body;
  Exchange bad = get("/things?sort=colour", reader);
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(ServiceTest, SigningInTellsWhoYouAreAndLoggingOutRevokesTheToken) {
  Exchange wrong = api.call("POST", "/api/v2/authenticate", {{"Content-Type", "application/json"}},
                            R"({"userName":"writer","apiKey":")" + key + R"(","password":"not-it"})");
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  EXPECT_EQ(reasonOf(wrong), "invalid_credentials");
  EXPECT_EQ(wrong.header("WWW-Authenticate"), "Bearer");
  Exchange asForm = api.call("POST", "/api/v2/authenticate",
                             {{"Content-Type", "application/x-www-form-urlencoded"}}, R"({"userName":"writer"})");
  EXPECT_EQ(asForm.status, 415) << asForm.body;

  Exchange me = get("/me", writer);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_TRUE(me.json()["data"]["logged_in"].GetBool());
  EXPECT_STREQ(me.json()["data"]["user"]["userName"].GetString(), "writer");
  EXPECT_EQ(me.header("Cache-Control"), "private, no-cache");
  Exchange out = api.call("POST", "/api/v2/logout", {{"Authorization", writer}});
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_FALSE(out.json()["data"]["logged_in"].GetBool());
  // The revoked token is anybody's now: /me says so, and records need a new one.
  EXPECT_FALSE(get("/me", writer).json()["data"]["logged_in"].GetBool());
  Exchange revoked = get("/things", writer);
  EXPECT_EQ(revoked.status, 401) << revoked.body;
  EXPECT_EQ(reasonOf(revoked), "token_expired");
  EXPECT_EQ(get("/things", reader).status, 200);  // other tokens live on
}

TEST_F(ServiceTest, TheChangeFeedStreamsTheChangesAWriterMakes) {
  Exchange badId = api.call("GET", "/api/v2/things/events", {{"Authorization", reader}, {"Last-Event-ID", "x1"}});
  EXPECT_EQ(badId.status, 400) << badId.body;
  Exchange head = api.call("HEAD", "/api/v2/things/events", {{"Authorization", reader}});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.contentType, "text/event-stream");
  Exchange feed = api.call("GET", "/api/v2/things/events", {{"Authorization", reader}});
  ASSERT_EQ(feed.status, 200) << feed.body;
  EXPECT_EQ(feed.contentType, "text/event-stream");
  ASSERT_TRUE(feed.stream);
  feed.stream->start([] {});  // polled below instead of woken
  std::string id = create(R"({"name":"streamed"})", writer);
  std::string events;
  for (int i = 0; i < 500 && events.find(id) == std::string::npos; ++i) {
    ASSERT_TRUE(feed.stream->take(events));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(events.find("event: created"), std::string::npos) << events;
  EXPECT_NE(events.find(id), std::string::npos) << events;
  feed.stream->finish();
}

}  // namespace
}  // namespace restd::api::testing
