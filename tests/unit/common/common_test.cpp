#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <ctime>
#include <vector>
#include <set>

#include "common/json.h"
#include "common/record_ids.h"
#include "common/time.h"

namespace restd {
namespace {

bool parses(std::string_view text) {
  rapidjson::Document d;
  std::string why;
  return parseStrictJson(text, d, why);
}

TEST(StrictJson, AcceptsOrdinaryJson) {
  EXPECT_TRUE(parses(R"({"a":1,"b":[true,null,"x"],"c":{"d":1.5}})"));
  EXPECT_TRUE(parses("[]"));
  EXPECT_TRUE(parses("\"str\""));
  rapidjson::Document d;
  std::string why;
  ASSERT_TRUE(parseStrictJson(R"({"s":"a\u0000b"})", d, why));
  EXPECT_EQ(std::string(d["s"].GetString(), d["s"].GetStringLength()), std::string("a\0b", 3));
}

TEST(StrictJson, RefusesWhatTheSpecRefuses) {
  EXPECT_FALSE(parses(R"({"a":1,"a":2})"));
  EXPECT_FALSE(parses(R"({"x":{"a":1,"a":2}})"));
  EXPECT_TRUE(parses(R"({"x":{"a":1},"y":{"a":2}})"));  // same key in different objects is fine
  EXPECT_FALSE(parses("\xEF\xBB\xBF{}"));
  EXPECT_FALSE(parses("{\"a\":\"\xFF\"}"));
  EXPECT_FALSE(parses("[1e400]"));
  EXPECT_FALSE(parses("{} {}"));
  EXPECT_FALSE(parses(""));
  EXPECT_FALSE(parses("[NaN]"));
  std::string deep64 = std::string(64, '[') + std::string(64, ']');
  std::string deep65 = std::string(65, '[') + std::string(65, ']');
  EXPECT_TRUE(parses(deep64));
  EXPECT_FALSE(parses(deep65));
  std::string veryDeep = std::string(200000, '[');  // no recursion, no crash
  EXPECT_FALSE(parses(veryDeep));
}

// The keys of an object are kept for the next object at the same depth:
// each sibling starts empty, whether the one before held a short list or
// (past 16 keys) a hash set, and repeats are still found in each.
TEST(StrictJson, SiblingObjectsEachStartWithNoKeys) {
  auto parses = [](const std::string& s) {
    rapidjson::Document d;
    std::string why;
    return parseStrictJson(s, d, why);
  };
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  many += "}";
  EXPECT_TRUE(parses(R"([{"a":1,"b":2},{"a":3,"b":4},{"b":5}])"));
  EXPECT_TRUE(parses("[" + many + "," + many + R"(,{"k1":1},{"k1":2,"k2":{"k1":3}}])"));
  EXPECT_FALSE(parses(R"([{"a":1},{"b":2,"b":3}])"));
  EXPECT_FALSE(parses("[" + many + R"(,{"k1":1,"k1":2}])"));  // after a hashed sibling, a short list again
  EXPECT_FALSE(parses(R"([{"a":1},)" + many.substr(0, many.size() - 1) + R"(,"k39":0}])"));  // hashed, repeated
  EXPECT_FALSE(parses(R"({"x":{"a":1},"y":{"a":2},"x":0})"));  // the outer object's keys outlive its children
}

TEST(StrictJson, ExplainsTheProblem) {
  rapidjson::Document d;
  std::string why;
  parseStrictJson(R"({"k":1,"k":2})", d, why);
  EXPECT_NE(why.find("repeats the key \"k\""), std::string::npos) << why;
  parseStrictJson("{", d, why);
  EXPECT_NE(why.find("at byte"), std::string::npos) << why;
}

// Every length up to three words, the special byte at every offset: the
// word-at-a-time scan (short, whole words, the overlapping last word) sees it.
TEST(NeedsJsonEscape, FindsEachSpecialByteAnywhere) {
  for (size_t n = 0; n <= 40; ++n) {  // byte by byte, by words, by 16-byte blocks and their overlapping tail
    std::string plain(n, 'x');
    EXPECT_FALSE(needsJsonEscape(plain)) << n;
    for (char ordinary : {' ', '!', '#', '[', ']', '\x7f', '\x80', '\xe2', '\xff'})  // next to the specials, and high bytes
      EXPECT_FALSE(needsJsonEscape(std::string(n, ordinary))) << n << " " << int(ordinary);
    for (char special : {'"', '\\', '\0', '\x01', '\x1f', '\n'})
      for (size_t at = 0; at < n; ++at) {
        std::string s = plain;
        s[at] = special;
        EXPECT_TRUE(needsJsonEscape(s)) << n << " " << at << " " << int(special);
      }
  }
  EXPECT_FALSE(needsJsonEscape("caf\xc3\xa9 / ~ \x7f \xe2\x82\xac \x20!#[]{}"));  // UTF-8, DEL, space: as they are
}

TEST(CopyJson, CopiesDeeplyIntoThePoolAndSharesConstantNames) {
  static const std::string kName = "name";  // as a field name from the configuration
  rapidjson::Document from;
  std::string why;
  ASSERT_TRUE(restd::parseStrictJson(R"({"a":[1,2.5,{"b":null,"c":"x\u0000y"}],"d":true,"e":{}})", from, why)) << why;
  from.AddMember(rapidjson::StringRef(kName.c_str(), kName.size()), rapidjson::Value("text", from.GetAllocator()),
                 from.GetAllocator());
  rapidjson::MemoryPoolAllocator<> pool;
  rapidjson::Value to;
  restd::copyJson(from, to, pool);
  EXPECT_EQ(restd::toJsonText(to), restd::toJsonText(from));
  EXPECT_EQ(to.MemberCount(), from.MemberCount());
  auto last = to.MemberEnd() - 1;
  EXPECT_EQ(last->name.GetString(), kName.c_str());                 // constant: shared
  EXPECT_NE(last->value.GetString(), (from.MemberEnd() - 1)->value.GetString());  // copied
  EXPECT_EQ(to["a"][2]["c"].GetStringLength(), 3u);                  // the NUL is kept
  // The copy does not depend on the source.
  from.SetNull();
  EXPECT_EQ(restd::toJsonText(to), R"({"a":[1,2.5,{"b":null,"c":"x\u0000y"}],"d":true,"e":{},"name":"text"})");
}

TEST(ParseStoredJson, ParsesIntoThePoolAgainAndAgainWhateverTheStackNeeded) {
  // A 3,000-element array needs a parse stack far past the per-thread
  // buffer; small texts before and after it must still parse, each into
  // its own pool, and a bad text gives null.
  std::string big = "[";
  for (int i = 0; i < 3000; ++i) big += (i ? "," : "") + std::to_string(i);
  big += "]";
  for (int round = 0; round < 3; ++round) {
    rapidjson::MemoryPoolAllocator<> pool;
    rapidjson::Value small, large, nested, bad;
    restd::parseStoredJson(R"(["a","b\"c"])", small, pool);
    restd::parseStoredJson(big, large, pool);
    restd::parseStoredJson(R"({"x":[[[{"y":1.5}]]],"z":null})", nested, pool);
    bad.SetInt(7);
    restd::parseStoredJson("[1,", bad, pool);
    EXPECT_EQ(restd::toJsonText(small), R"(["a","b\"c"])");
    ASSERT_TRUE(large.IsArray());
    EXPECT_EQ(large.Size(), 3000u);
    EXPECT_EQ(large[2999].GetInt(), 2999);
    EXPECT_EQ(restd::toJsonText(large), big);
    EXPECT_EQ(restd::toJsonText(nested), R"({"x":[[[{"y":1.5}]]],"z":null})");
    EXPECT_TRUE(bad.IsNull());
  }
}

TEST(RecordIds, HaveTheTypeIdShapeAndSortByTime) {
  std::string a = newRecordIdAt("thing", 1000), b = newRecordIdAt("thing", 2000);
  EXPECT_TRUE(isRecordId(a, "thing")) << a;
  EXPECT_EQ(a.size(), 6u + 26u);
  EXPECT_LT(a, b);
  EXPECT_FALSE(isRecordId(a, "other"));
  EXPECT_FALSE(isRecordId("thing_8zzzzzzzzzzzzzzzzzzzzzzzzz", "thing"));
  EXPECT_EQ(recordIdSuffix(a).size(), 26u);
}

TEST(RecordIds, TheFirstTenCharactersAreTheMilliseconds) {
  // Later than any id made before in this process (the generator never goes
  // back in time, and other tests make ids now): the year 6429.
  uint64_t ms = (uint64_t(1) << 47) + 123;
  std::string id = newRecordIdAt("t", ms);
  std::string_view s = recordIdSuffix(id);
  uint64_t decoded = 0;
  for (char c : s.substr(0, 10))
    decoded = decoded * 32 + std::string_view("0123456789abcdefghjkmnpqrstvwxyz").find(c);
  EXPECT_EQ(decoded, ms);
}

TEST(RecordIds, SameMillisecondStillSortsInCreationOrder) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.push_back(newRecordIdAt("t", 5'000'000'000'000ULL));
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // a clock that steps back does not break the order either
  std::string later = newRecordIdAt("t", 4'000'000'000'000ULL);
  EXPECT_GT(later, ids.back());
}

TEST(Slugs, FollowTheRules) {
  EXPECT_EQ(slugify("Hello, World!"), "hello-world");
  EXPECT_EQ(slugify("  --Ünïcode café--  "), "n-code-caf");
  EXPECT_EQ(slugify("a__b  c"), "a-b-c");
  EXPECT_EQ(slugify("!!!"), "");
  EXPECT_EQ(slugify(std::string(100, 'x')).size(), 80u);
  EXPECT_EQ(slugify(std::string(79, 'x') + " y"), std::string(79, 'x'));
  EXPECT_EQ(slugCandidate("abc", 1), "abc");
  EXPECT_EQ(slugCandidate("abc", 2), "abc-2");
  EXPECT_EQ(slugCandidate(std::string(80, 'x'), 12), std::string(77, 'x') + "-12");
  EXPECT_EQ(slugCandidate(std::string(77, 'x') + "-yy", 2), std::string(77, 'x') + "-2");
  EXPECT_EQ(slugCandidate("events", 1), "events-2");
}

TEST(Time, Rfc3339RoundTrip) {
  EXPECT_EQ(parseRfc3339Millis("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24T10:00:00Z"), 1795514400000LL);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24T12:00:00+02:00"), 1795514400000LL);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24T10:00:00.5Z"), 1795514400500LL);
  EXPECT_EQ(parseRfc3339Millis("2024-02-29T00:00:00Z").has_value(), true);
  EXPECT_EQ(parseRfc3339Millis("2023-02-29T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24"), std::nullopt);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24T10:00:00"), std::nullopt);
  EXPECT_EQ(parseRfc3339Millis("2026-11-24T10:00:00Zjunk"), std::nullopt);
  EXPECT_EQ(parseRfc3339Millis("2026-13-01T10:00:00Z"), std::nullopt);
  ASSERT_TRUE(TimeZone::configure("+05:30"));
  EXPECT_EQ(formatRfc3339Millis(1795514400000LL), "2026-11-24T15:30:00+05:30");
  EXPECT_EQ(formatRfc3339Millis(1795514400250LL), "2026-11-24T15:30:00.250+05:30");
  ASSERT_TRUE(TimeZone::configure("-09:45"));
  EXPECT_EQ(formatRfc3339Millis(1795514400000LL), "2026-11-24T00:15:00-09:45");
  std::string noColon;
  restd::appendOffset(noColon, -(9 * 3600 + 45 * 60), false);
  EXPECT_EQ(noColon, "-0945");
  ASSERT_TRUE(TimeZone::configure("UTC"));
  EXPECT_EQ(formatRfc3339Millis(1795514400000LL), "2026-11-24T10:00:00+00:00");
}

TEST(Time, HttpDates) {
  EXPECT_EQ(parseHttpDate("Tue, 24 Nov 2026 10:00:00 GMT"), 1795514400);
  EXPECT_EQ(parseHttpDate("Tue, 24 Nov 2026 10:00:00 UTC"), std::nullopt);
  EXPECT_EQ(parseHttpDate("yesterday"), std::nullopt);
  EXPECT_EQ(formatHttpDate(std::chrono::system_clock::from_time_t(1795514400)), "Tue, 24 Nov 2026 10:00:00 GMT");
}

// The calendar arithmetic replaces gmtime_r + snprintf on the hot path; it
// must agree with libc for every kind of instant: before 1970, leap days,
// century years, the ends of the four-digit range.
TEST(Time, CivilFromUnixAgreesWithGmtime) {
  std::vector<int64_t> instants = {0, -1, 86399, 86400, -86400, 951782400 /* 2000-02-29 */, 4107542400 /* 2100-03-01 */,
                                   -62135596800 /* 0001-01-01 */, 253402300799 /* 9999-12-31T23:59:59 */};
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 20000; ++i) {  // xorshift: deterministic spread over years 1..9999
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    instants.push_back(-62135596800 + static_cast<int64_t>(x % 315537897600ULL));
  }
  for (int64_t t : instants) {
    time_t tt = static_cast<time_t>(t);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
    CivilTime c = civilFromUnix(t);
    ASSERT_EQ(c.year, tm.tm_year + 1900) << t;
    ASSERT_EQ(c.month, tm.tm_mon + 1) << t;
    ASSERT_EQ(c.day, tm.tm_mday) << t;
    ASSERT_EQ(c.hour, tm.tm_hour) << t;
    ASSERT_EQ(c.minute, tm.tm_min) << t;
    ASSERT_EQ(c.second, tm.tm_sec) << t;
    ASSERT_EQ(c.weekday, tm.tm_wday) << t;
  }
  EXPECT_EQ(formatLogTime(SysTime(std::chrono::milliseconds(1795514400007LL))), "2026-11-24T10:00:00.007Z");
  EXPECT_EQ(formatLogTime(SysTime(std::chrono::milliseconds(-1))), "1969-12-31T23:59:59.999Z");
  ASSERT_TRUE(TimeZone::configure("-03:00"));
  EXPECT_EQ(formatRfc3339Millis(-1500), "1969-12-31T20:59:58.500-03:00");
  ASSERT_TRUE(TimeZone::configure("UTC"));
}

}  // namespace
}  // namespace restd

#include "common/utf8.h"

TEST(Utf8, ValidatesAndReplacesMaximalSubparts) {
  EXPECT_TRUE(restd::isValidUtf8("plain ascii text, longer than a word"));
  EXPECT_TRUE(restd::isValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(restd::isValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(restd::isValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(restd::isValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(restd::isValidUtf8("abc\xE2\x82"));       // truncated
  std::string out;
  restd::appendSanitizedUtf8(out, "a\xE2\x82z\xFF");
  EXPECT_EQ(out, "a\xEF\xBF\xBDz\xEF\xBF\xBD");  // one U+FFFD per maximal subpart
  std::string storage;
  EXPECT_EQ(restd::sanitizedUtf8("fine", storage), "fine");
  EXPECT_TRUE(storage.empty());
}

#include "common/time.h"

// Found by fuzz/json_validation: a date after 2262 overflowed SysTime's
// nanoseconds while the zone offset was looked up.
TEST(Time, DatesBeyondSysTimeRangeFormat) {
  auto ms = restd::parseRfc3339Millis("2602-01-02T03:04:05Z");
  ASSERT_TRUE(ms);
  EXPECT_EQ(restd::formatRfc3339Millis(*ms), "2602-01-02T03:04:05+00:00");
  auto early = restd::parseRfc3339Millis("0001-01-01T00:00:00Z");
  ASSERT_TRUE(early);
  EXPECT_EQ(restd::formatRfc3339Millis(*early), "0001-01-01T00:00:00+00:00");
}
