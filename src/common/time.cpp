#include "common/time.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>

namespace restd {
namespace {

enum class ZoneKind { fixed, local };
ZoneKind gKind = ZoneKind::fixed;
int gFixedOffset = 0;

int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

constexpr const char* kWeekdayNames[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonthNames[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Appends `value` zero-padded to `width` digits (value >= 0).
void appendPadded(std::string& out, int value, int width) {
  char digits[12];
  int n = 0;
  unsigned v = static_cast<unsigned>(value < 0 ? 0 : value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 12);
  for (int i = n; i < width; ++i) out.push_back('0');
  while (n > 0) out.push_back(digits[--n]);
}

}  // namespace

CivilTime civilFromUnix(int64_t unixSeconds) {
  // Civil from days (Howard Hinnant's public-domain algorithm, re-derived).
  int64_t days = floorDiv(unixSeconds, 86400);
  int64_t rem = unixSeconds - days * 86400;
  CivilTime c{};
  c.hour = static_cast<int>(rem / 3600);
  c.minute = static_cast<int>(rem / 60 % 60);
  c.second = static_cast<int>(rem % 60);
  c.weekday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  int64_t z = days + 719468;
  int64_t era = floorDiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = static_cast<int>(yoe + era * 400 + (c.month <= 2 ? 1 : 0));
  return c;
}

// Written in one append: this runs several times for every record rendered.
void appendIsoDateTime(std::string& out, const CivilTime& c) {
  if (c.year < 0 || c.year > 9999) {  // outside what parseRfc3339Millis accepts; kept general
    const int parts[] = {c.year, c.month, c.day, c.hour, c.minute, c.second};
    const char seps[] = {'-', '-', 'T', ':', ':'};
    for (int i = 0; i < 6; ++i) {
      if (i > 0) out.push_back(seps[i - 1]);
      appendPadded(out, parts[i], i == 0 ? 4 : 2);
    }
    return;
  }
  char b[19];
  auto two = [&](int at, int v) {
    b[at] = static_cast<char>('0' + v / 10);
    b[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(0, c.year / 100);
  two(2, c.year % 100);
  b[4] = '-';
  two(5, c.month);
  b[7] = '-';
  two(8, c.day);
  b[10] = 'T';
  two(11, c.hour);
  b[13] = ':';
  two(14, c.minute);
  b[16] = ':';
  two(17, c.second);
  out.append(b, sizeof b);
}

void appendImfDateTime(std::string& out, const CivilTime& c) {
  out.append(kWeekdayNames[c.weekday]).append(", ");
  appendPadded(out, c.day, 2);
  out.push_back(' ');
  out.append(kMonthNames[c.month - 1]).push_back(' ');
  appendPadded(out, c.year, 4);
  out.push_back(' ');
  appendPadded(out, c.hour, 2);
  out.push_back(':');
  appendPadded(out, c.minute, 2);
  out.push_back(':');
  appendPadded(out, c.second, 2);
}

// In one append, like appendIsoDateTime: it follows every date rendered.
void appendOffset(std::string& out, int off, bool colon) {
  int a = (off < 0 ? -off : off) % (100 * 3600);
  int hours = a / 3600, minutes = a / 60 % 60;
  char b[6];
  size_t n = 0;
  b[n++] = off < 0 ? '-' : '+';
  b[n++] = static_cast<char>('0' + hours / 10);
  b[n++] = static_cast<char>('0' + hours % 10);
  if (colon) b[n++] = ':';
  b[n++] = static_cast<char>('0' + minutes / 10);
  b[n++] = static_cast<char>('0' + minutes % 10);
  out.append(b, n);
}

bool TimeZone::configure(std::string_view name) {
  if (name == "UTC") {
    gKind = ZoneKind::fixed;
    gFixedOffset = 0;
    return true;
  }
  if (name.size() == 6 && (name[0] == '+' || name[0] == '-') && name[3] == ':') {
    int hh = (name[1] - '0') * 10 + (name[2] - '0');
    int mm = (name[4] - '0') * 10 + (name[5] - '0');
    gKind = ZoneKind::fixed;
    gFixedOffset = (name[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return true;
  }
  // IANA zone: let libc's tz database do the rules (DST included).
  std::string tz(name);
  if (setenv("TZ", tz.c_str(), 1) != 0) return false;
  tzset();
  gKind = ZoneKind::local;
  return true;
}

int TimeZone::offsetSeconds(SysTime t) {
  if (gKind == ZoneKind::fixed) return gFixedOffset;
  time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  return static_cast<int>(tm.tm_gmtoff);
}

std::string formatRfc3339(SysTime t) {
  std::string out;
  out.reserve(25);
  appendRfc3339(out, t);
  return out;
}

namespace {
void appendRfc3339At(std::string& out, time_t seconds, int offset) {
  appendIsoDateTime(out, civilFromUnix(static_cast<int64_t>(seconds) + offset));
  appendOffset(out, offset, true);
}
}  // namespace

void appendRfc3339(std::string& out, SysTime t) {
  appendRfc3339At(out, std::chrono::system_clock::to_time_t(t), TimeZone::offsetSeconds(t));
}

std::string_view rfc3339OfSecond(SysTime t) {
  thread_local std::string text;
  thread_local time_t second = 0;
  thread_local int offset = 0;
  time_t s = std::chrono::system_clock::to_time_t(t);
  int off = TimeZone::offsetSeconds(t);
  if (text.empty() || s != second || off != offset) {
    text.clear();
    appendRfc3339At(text, s, off);
    second = s;
    offset = off;
  }
  return text;
}

SysTime sysTimeFromSeconds(int64_t secs) {
  using namespace std::chrono;
  constexpr int64_t kDay = 86400;
  const int64_t maxSecs = duration_cast<seconds>(SysTime::duration::max()).count() - kDay;
  const int64_t minSecs = duration_cast<seconds>(SysTime::duration::min()).count() + kDay;
  return SysTime(duration_cast<SysTime::duration>(seconds(std::clamp(secs, minSecs, maxSecs))));
}

std::string formatRfc3339Millis(int64_t ms) {
  int64_t secs = floorDiv(ms, 1000);
  int frac = static_cast<int>(ms - secs * 1000);
  int off = TimeZone::offsetSeconds(sysTimeFromSeconds(secs));
  std::string out;
  out.reserve(29);
  appendIsoDateTime(out, civilFromUnix(secs + off));
  if (frac != 0) {
    out.push_back('.');
    appendPadded(out, frac, 3);
  }
  appendOffset(out, off, true);
  return out;
}

int64_t nowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> parseRfc3339Millis(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int Y, M, D, h, m, sec;
  if (s.size() < 20 || !digits(0, 4, Y) || s[4] != '-' || !digits(5, 2, M) || s[7] != '-' || !digits(8, 2, D) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, m) ||
      s[16] != ':' || !digits(17, 2, sec))
    return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M < 1 || M > 12 || D < 1 || D > kDays[M - 1] + (M == 2 && leap ? 1 : 0) || h > 23 || m > 59 || sec > 60)
    return std::nullopt;
  size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 3) millis = millis * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 3; ++i) millis *= 10;
  }
  int offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, om) || oh > 23 ||
        om > 59)
      return std::nullopt;
    offset = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int y = Y - (M <= 2);
  int era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * static_cast<unsigned>(M + (M > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(D) - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = int64_t(era) * 146097 + int64_t(doe) - 719468;
  int64_t secs = days * 86400 + h * 3600 + m * 60 + std::min(sec, 59) - offset;
  return secs * 1000 + millis;
}

std::optional<int64_t> parseHttpDate(std::string_view s) {
  // "Tue, 24 Nov 2026 10:00:00 GMT"
  if (s.size() != 29 || s.substr(25) != " GMT" || s[3] != ',') return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (s.substr(8, 3) == kMonthNames[i]) month = i + 1;
  if (month < 0) return std::nullopt;
  std::string iso = std::string(s.substr(12, 4)) + "-" + (month < 10 ? "0" : "") + std::to_string(month) + "-" +
                    std::string(s.substr(5, 2)) + "T" + std::string(s.substr(17, 8)) + "Z";
  auto ms = parseRfc3339Millis(iso);
  if (!ms) return std::nullopt;
  return *ms / 1000;
}

std::string formatLogTime(SysTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  int64_t secs = floorDiv(ms, 1000);
  std::string out;
  out.reserve(24);
  appendIsoDateTime(out, civilFromUnix(secs));
  out.push_back('.');
  appendPadded(out, static_cast<int>(ms - secs * 1000), 3);
  out.push_back('Z');
  return out;
}

std::string formatHttpDate(SysTime t) {
  std::string out;
  out.reserve(29);
  appendImfDateTime(out, civilFromUnix(static_cast<int64_t>(std::chrono::system_clock::to_time_t(t))));
  out.append(" GMT");
  return out;
}

}  // namespace restd
