#include "common/time.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace restd {
namespace {

enum class ZoneKind { fixed, local };
ZoneKind gKind = ZoneKind::fixed;
int gFixedOffset = 0;

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::tm utcTm(time_t secs) {
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

}  // namespace

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
  int off = TimeZone::offsetSeconds(t);
  time_t secs = std::chrono::system_clock::to_time_t(t) + off;
  std::tm tm = utcTm(secs);
  char buf[64];
  int a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', a / 3600, (a / 60) % 60);
  return buf;
}

std::string formatLogTime(SysTime t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm = utcTm(secs);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string formatHttpDate(SysTime t) {
  std::tm tm = utcTm(std::chrono::system_clock::to_time_t(t));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace restd
