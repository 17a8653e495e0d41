#include "render/profile.h"

#include <gtest/gtest.h>
#include <pugixml.hpp>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <random>

#include "config/names.h"
#include "render/tree_writer.h"

namespace restd::render {
namespace {

RenderContext context(Format f = Format::json) {
  RenderContext c;
  c.requestId = "req-1";
  c.now = std::chrono::system_clock::from_time_t(1795514400);  // 2026-11-24T10:00:00Z
  c.format = f;
  return c;
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

TEST(StandardProfile, RecordReply) {
  Reply r;
  r.data.Parse(R"({"id":"thing_1","name":"My first thing","tags":["a",null]})");
  Rendered out = renderReply(*findProfile("standard"), r, context());
  EXPECT_EQ(out.contentType, "application/json; charset=utf-8");
  auto d = parse(out.body);
  EXPECT_STREQ(d["data"]["name"].GetString(), "My first thing");
  EXPECT_TRUE(d["data"]["tags"][1].IsNull());
  EXPECT_STREQ(d["meta"]["requestId"].GetString(), "req-1");
  EXPECT_STREQ(d["meta"]["date"].GetString(), "2026-11-24T10:00:00+00:00");
  EXPECT_FALSE(d.HasMember("pagination"));
  EXPECT_FALSE(d.HasMember("error"));
}

TEST(StandardProfile, ListWithPagination) {
  Reply r;
  r.kind = ReplyKind::list;
  r.data.Parse(R"([{"id":"a"},{"id":"b"}])");
  r.pagination = Pagination{2, 20, 93, 5, std::nullopt};
  auto d = parse(renderReply(*findProfile("standard"), r, context()).body);
  const auto& p = d["pagination"];
  EXPECT_EQ(p["page"].GetInt(), 2);
  EXPECT_EQ(p["pagesCount"].GetInt(), 5);
  EXPECT_EQ(p["recordsPerPage"].GetInt(), 20);
  EXPECT_EQ(p["recordsCount"].GetInt(), 93);
  EXPECT_FALSE(p.HasMember("nextCursor"));
}

TEST(StandardProfile, ErrorObjectHasEveryKeyInOrder) {
  ErrorObject e(Reason::field_required);
  e.withField("name");
  e.details.push_back(ErrorObject(Reason::field_required).withField("name"));
  e.details.push_back(ErrorObject(Reason::field_type).withField("price"));
  Reply r = Reply::failure(e);
  EXPECT_EQ(r.status, 422);
  std::string body = renderReply(*findProfile("standard"), r, context()).body;
  auto d = parse(body);
  const auto& err = d["error"];
  EXPECT_STREQ(err["type"].GetString(), "validation");
  EXPECT_EQ(err["code"].GetInt(), 422);
  EXPECT_STREQ(err["reason"].GetString(), "field_required");
  EXPECT_STREQ(err["field"].GetString(), "name");
  EXPECT_STREQ(err["info"].GetString(), "/docs/errors#field_required");
  ASSERT_EQ(err["details"].Size(), 2u);
  EXPECT_STREQ(err["details"][1]["field"].GetString(), "price");
  EXPECT_LT(body.find("\"type\""), body.find("\"code\""));
  EXPECT_LT(body.find("\"reason\""), body.find("\"message\""));
  EXPECT_FALSE(d.HasMember("data"));
}

TEST(StandardProfile, DocsUrlBuildsInfoLinks) {
  RenderContext c = context();
  c.docsUrl = "https://docs.example.com/errors";
  auto d = parse(renderReply(*findProfile("standard"), Reply::failure(ErrorObject(Reason::not_found)), c).body);
  EXPECT_STREQ(d["error"]["info"].GetString(), "https://docs.example.com/errors#not_found");
}

TEST(StandardProfile, NulInsideStringsSurvivesJson) {
  Reply r;
  r.data.SetObject();
  std::string withNul("a\0b", 3);
  r.data.AddMember("s", rapidjson::Value(withNul.data(), 3, r.data.GetAllocator()), r.data.GetAllocator());
  std::string body = renderReply(*findProfile("standard"), r, context()).body;
  EXPECT_NE(body.find("a\\u0000b"), std::string::npos);
}

// The JSON writer copies text that needs no escape whole (tree_writer.cpp):
// its bytes must be RapidJSON's own, escapes at any offset of the eight-byte
// scan and in its tail included, for keys and values, compact and pretty.
TEST(JsonWriter, TextMatchesRapidJsonByteForByte) {
  const std::string alphabet = std::string("ab/\"\\ ~\x7f") + std::string("\0\x01\x1f\t\n", 5) + "\xc3\xa9\xe2\x82\xac";
  std::mt19937 rng(7);
  for (int round = 0; round < 4000; ++round) {
    std::string a, b;
    size_t n = rng() % 40, m = rng() % 20;
    for (size_t i = 0; i < n; ++i) a.push_back(alphabet[rng() % alphabet.size()]);
    for (size_t i = 0; i < m; ++i) b.push_back(alphabet[rng() % alphabet.size()]);
    for (bool pretty : {false, true}) {
      auto w = makeJsonWriter(pretty);
      w->startObject();
      w->key(a);
      w->string(b);
      w->key("list");
      w->startArray("item");
      w->string(a);
      w->string("");
      w->endArray();
      w->endObject();
      std::string ours = w->finish();
      rapidjson::StringBuffer sb;
      auto write = [&](auto& rw) {
        rw.StartObject();
        rw.Key(a.data(), static_cast<rapidjson::SizeType>(a.size()));
        rw.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
        rw.Key("list");
        rw.StartArray();
        rw.String(a.data(), static_cast<rapidjson::SizeType>(a.size()));
        rw.String("");
        rw.EndArray();
        rw.EndObject();
      };
      std::string theirs;
      if (pretty) {
        rapidjson::PrettyWriter<rapidjson::StringBuffer> rw(sb);
        rw.SetIndent(' ', 2);
        write(rw);
        theirs = std::string(sb.GetString(), sb.GetSize()) + "\n";
      } else {
        rapidjson::Writer<rapidjson::StringBuffer> rw(sb);
        write(rw);
        theirs = std::string(sb.GetString(), sb.GetSize());
      }
      ASSERT_EQ(ours, theirs) << "round " << round << (pretty ? " pretty" : "");
    }
  }
}

TEST(XmlLayout, ArraysBecomeRepeatedSingularElements) {
  Reply r;
  r.kind = ReplyKind::list;
  r.singular = "thing";
  r.data.Parse(R"([{"id":"a","tags":["x","y"],"bad key":1,"n":null},{"id":"b<&>"}])");
  Rendered out = renderReply(*findProfile("standard"), r, context(Format::xml));
  EXPECT_EQ(out.contentType, "application/xml; charset=utf-8");
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(out.body.c_str())) << out.body;
  auto root = doc.child("response");
  ASSERT_TRUE(root);
  auto things = root.child("data").children("thing");
  ASSERT_EQ(std::distance(things.begin(), things.end()), 2);
  auto first = root.child("data").child("thing");
  EXPECT_STREQ(first.child("tags").first_child().name(), "item");
  EXPECT_STREQ(first.find_child_by_attribute("entry", "key", "bad key").text().get(), "1");
  EXPECT_STREQ(first.child("n").attribute("nil").value(), "true");
  EXPECT_STREQ(first.next_sibling("thing").child("id").text().get(), "b<&>");
  EXPECT_STREQ(root.child("meta").child("requestId").text().get(), "req-1");
}

TEST(XmlLayout, ErrorsFailuresAndControlCharacters) {
  Reply r = Reply::failure(ErrorObject(Reason::batch_invalid));
  Failure f;
  f.index = 3;
  f.rawData.Parse("{\"name\":\"a\\u0001b\"}");
  f.errors.push_back(ErrorObject(Reason::field_required).withField("name"));
  r.failures.push_back(std::move(f));
  Rendered out = renderReply(*findProfile("standard"), r, context(Format::xml));
  pugi::xml_document doc;
  ASSERT_TRUE(doc.load_string(out.body.c_str())) << out.body;
  auto failure = doc.child("response").child("failures").child("failure");
  ASSERT_TRUE(failure);
  EXPECT_STREQ(failure.child("index").text().get(), "3");
  EXPECT_STREQ(failure.child("errors").child("error").child("field").text().get(), "name");
  EXPECT_STREQ(failure.child("rawData").child("name").text().get(), "a\xEF\xBF\xBD" "b");
}

TEST(Profiles, TheConfigurationKnowsEveryProfileByName) {
  std::vector<std::string_view> names = profileNames();
  EXPECT_EQ(names, std::vector<std::string_view>(std::begin(kEnvelopes), std::end(kEnvelopes)));
  for (std::string_view n : names) EXPECT_NE(findProfile(n), nullptr) << n;
}

TEST(Profiles, OnlyKnownNamesResolve) {
  EXPECT_NE(findProfile("standard"), nullptr);
  EXPECT_EQ(findProfile("nope"), nullptr);
  EXPECT_EQ(findProfile(""), nullptr);
}

TEST(Replies, DocumentAndEmptyPassThrough) {
  Rendered doc = renderReply(*findProfile("standard"), Reply::document(200, "text/html", "<p>x</p>"), context());
  EXPECT_EQ(doc.body, "<p>x</p>");
  EXPECT_EQ(doc.contentType, "text/html");
  Reply empty;
  empty.kind = ReplyKind::empty;
  empty.status = 204;
  EXPECT_TRUE(renderReply(*findProfile("standard"), empty, context()).body.empty());
}

}  // namespace
}  // namespace restd::render
