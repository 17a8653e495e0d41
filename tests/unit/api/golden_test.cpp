// The golden files (tests/golden/PROFILE/KIND.json) checked below the
// binary: every case of tests/golden/cases.json, in its order, through
// Service::handle() with a fake responder (in_process_api.h). The JSON reply
// must match the file (member order included, volatile values by pattern);
// the XML reply must have the same status and parse. tests/e2e/test_profiles.py
// checks the same files over sockets, XML structurally too.
#include <gtest/gtest.h>
#include <pugixml.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common/pattern.h"
#include "in_process_api.h"

namespace restd::api::testing {
namespace {

const std::string kGolden = std::string(RESTD_SOURCE_DIR) + "/tests/golden/";

rapidjson::Document readJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d;
  d.Parse(ss.str().c_str());
  if (d.HasParseError()) throw std::runtime_error(path + " does not parse");
  return d;
}

std::string text(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return sb.GetString();
}

// A whole-value match of `source` (PCRE2, as restd's own `pattern` rules).
Pattern whole(const std::string& source) {
  std::string error;
  auto p = Pattern::compile("\\A(?:" + source + ")\\z", error);  // \z: no final newline either
  if (!p) throw std::logic_error("a golden placeholder pattern does not compile: " + error);
  return std::move(*p);
}

// The placeholders of test_profiles.py, with the same patterns.
const std::map<std::string, Pattern>& patterns() {
  static const std::map<std::string, Pattern> p = {
      {"<id:thing>", whole("thing_[0-7][0-9a-hjkmnp-tv-z]{25}")},
      {"<id:user>", whole("user_[0-7][0-9a-hjkmnp-tv-z]{25}")},
      {"<date:rfc3339>", whole(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d)")},
      {"<date:rfc2822>", whole(R"([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4})")},
      {"<date:compact>", whole(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4})")},
      {"<token>", whole("[0-9a-f]{40}")},
      {"<requestId>", whole("[0-9a-z]{20}")},
      {"<cursor>", whole("[A-Za-z0-9_-]{8,}")},
  };
  return p;
}

bool stringMatches(std::string_view expected, std::string_view actual) {
  const auto& p = patterns();
  if (auto it = p.find(std::string(expected)); it != p.end()) return it->second.matches(actual);
  // Ids inside messages ("Your thing (id: …) was deleted").
  std::string rx;
  for (size_t at = 0;;) {
    size_t ph = expected.find("<id:thing>", at);
    std::string_view literal = expected.substr(at, ph == std::string_view::npos ? ph : ph - at);
    for (char c : literal) {
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) rx.push_back('\\');
      rx.push_back(c);
    }
    if (ph == std::string_view::npos) break;
    rx += "thing_[0-7][0-9a-hjkmnp-tv-z]{25}";
    at = ph + 10;
  }
  return whole(rx).matches(actual);
}

// Where `actual` differs from `expected`, or "" when it matches.
std::string difference(const rapidjson::Value& expected, const rapidjson::Value& actual, const std::string& at) {
  if (expected.IsObject()) {
    if (!actual.IsObject()) return at + ": not an object";
    if (expected.MemberCount() != actual.MemberCount()) return at + ": other members: " + text(actual);
    auto a = actual.MemberBegin();
    for (auto e = expected.MemberBegin(); e != expected.MemberEnd(); ++e, ++a) {
      std::string key = e->name.GetString();
      if (key != a->name.GetString()) return at + ": member " + a->name.GetString() + " where " + key + " belongs";
      if (std::string d = difference(e->value, a->value, at + "." + key); !d.empty()) return d;
    }
    return {};
  }
  if (expected.IsArray()) {
    if (!actual.IsArray() || expected.Size() != actual.Size()) return at + ": other array: " + text(actual);
    for (rapidjson::SizeType i = 0; i < expected.Size(); ++i)
      if (std::string d = difference(expected[i], actual[i], at + "[" + std::to_string(i) + "]"); !d.empty())
        return d;
    return {};
  }
  if (expected.IsString()) {
    if (!actual.IsString()) return at + ": not a string: " + text(actual);
    if (!stringMatches(expected.GetString(), actual.GetString()))
      return at + ": " + text(actual) + " does not match " + text(expected);
    return {};
  }
  if (expected.IsNumber() && actual.IsNumber() && expected.IsInt64() == actual.IsInt64() &&
      expected.GetDouble() == actual.GetDouble())
    return {};
  if (expected == actual) return {};
  return at + ": " + text(actual) + " instead of " + text(expected);
}

std::string standardPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 207: return "Multi-Status";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 422: return "Unprocessable Entity";
    default: return "(no phrase for " + std::to_string(status) + " in golden_test.cpp)";
  }
}

void replaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

TEST(Golden, EveryProfileAndReplyKindInProcess) {
  rapidjson::Document cases = readJson(kGolden + "cases.json");
  InProcessApi api(cases["config"].GetString());
  const std::string base = api.config().server.basePath;
  const std::string key = api.apiKey("golden");
  api.addUser("api", auth::Role::admin, "api");
  const std::string token = api.login("api", "api", key);
  ASSERT_FALSE(token.empty());
  auto post = [&](const rapidjson::Value& record) {
    Exchange r = api.call("POST", base + "/things",
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}}, text(record));
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.json()["data"]["id"].GetString());
  };
  for (const auto& record : cases["records"].GetArray()) post(record);
  const std::string fixture = post(cases["fixture"]);

  int checked = 0;
  for (const auto& profileValue : cases["profiles"].GetArray()) {
    const std::string profile = profileValue.GetString();
    for (const auto& entry : cases["cases"].GetObject()) {
      const std::string kind = entry.name.GetString();
      const rapidjson::Value& c = entry.value;
      SCOPED_TRACE(profile + "/" + kind);
      rapidjson::Document golden = readJson(kGolden + profile + "/" + kind + ".json");
      for (bool xml : {false, true}) {
        std::string path = c["path"].GetString();
        replaceAll(path, "{id}", fixture);
        if (path.find("{fresh}") != std::string::npos) replaceAll(path, "{fresh}", post(cases["fresh"]));
        path = base + path + (path.find('?') == std::string::npos ? "?" : "&") + "envelope=" + profile;
        std::vector<std::pair<std::string, std::string>> headers = {
            {"Accept", xml ? "application/xml" : "application/json"}};
        if (!c.HasMember("anonymous"))
          headers.emplace_back("Authorization",
                               "Bearer " + (c.HasMember("token") ? std::string(c["token"].GetString()) : token));
        std::string body;
        if (c.HasMember("body")) {
          body = text(c["body"]);
          headers.emplace_back("Content-Type", "application/json");
        } else if (c.HasMember("form")) {
          body = c["form"].GetString();
          replaceAll(body, "{key}", key);
          headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        }
        Exchange r = api.call(c["method"].GetString(), path, headers, body);
        ASSERT_EQ(r.status, golden["status"].GetInt()) << (xml ? "XML: " : "") << r.body;
        if (xml) {
          pugi::xml_document doc;
          EXPECT_TRUE(doc.load_buffer(r.body.data(), r.body.size())) << r.body;
          EXPECT_NE(r.contentType.find("xml"), std::string::npos) << r.contentType;
          continue;
        }
        EXPECT_EQ(r.reasonPhrase.empty() ? standardPhrase(r.status) : r.reasonPhrase, golden["reason"].GetString());
        EXPECT_EQ(r.contentType, golden["contentType"].GetString());
        rapidjson::Document actual = r.json();
        EXPECT_EQ(difference(golden["body"], actual, "body"), "") << r.body;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, static_cast<int>(cases["profiles"].Size() * cases["cases"].MemberCount()));
}

}  // namespace
}  // namespace restd::api::testing
