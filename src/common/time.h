// Dates as restd renders them. The configured zone is process-wide (one
// server, one `server.timezone`): call TimeZone::configure() once at start-up,
// before any thread starts. All functions here are thread-safe afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace restd {

using SysTime = std::chrono::system_clock::time_point;

// The instant `secs` after the epoch as a SysTime, clamped to what SysTime can
// hold (about 1678 to 2262 with nanosecond ticks). Dates in records reach
// 0000-9999, so time-zone lookups of such dates use the nearest representable
// instant instead of overflowing (found by fuzz/json_validation).
SysTime sysTimeFromSeconds(int64_t secs);

class TimeZone {
 public:
  // "UTC", "+HH:MM"/"-HH:MM", or an IANA name (sets TZ for the process).
  // Returns false for a name it cannot use.
  static bool configure(std::string_view name);
  // Offset from UTC in seconds at instant `t` in the configured zone.
  static int offsetSeconds(SysTime t);
};

// RFC 3339 in the configured zone: 2026-11-24T10:00:00+00:00
std::string formatRfc3339(SysTime t);
void appendRfc3339(std::string& out, SysTime t);
// formatRfc3339(t) remembered per thread until the second or the offset
// changes (a reply's meta date): valid until this thread's next call.
std::string_view rfc3339OfSecond(SysTime t);
// RFC 3339 of a Unix time in milliseconds, in the configured zone; fractional
// seconds only when `millis` is not a whole second.
std::string formatRfc3339Millis(int64_t unixMillis);
// Parses an RFC 3339 date-time ("2026-11-24T10:00:00Z", "...T10:00:00.5+02:00")
// to Unix milliseconds; nullopt when it is not one (or not a real date).
std::optional<int64_t> parseRfc3339Millis(std::string_view text);
int64_t nowMillis();
// Parses an IMF-fixdate ("Tue, 24 Nov 2026 10:00:00 GMT") to Unix seconds.
std::optional<int64_t> parseHttpDate(std::string_view text);

// Same, in UTC with milliseconds: 2026-11-24T10:00:00.123Z (logs)
std::string formatLogTime(SysTime t);
// IMF-fixdate for the Date header: Tue, 24 Nov 2026 10:00:00 GMT
std::string formatHttpDate(SysTime t);

// Calendar fields of a Unix time (seconds, UTC or already shifted by an
// offset). Pure arithmetic: no libc time functions, no locks, no allocation.
struct CivilTime {
  int year, month, day;       // month 1-12, day 1-31
  int hour, minute, second;
  int weekday;                // 0 = Sunday
};
CivilTime civilFromUnix(int64_t unixSeconds);
// Appends "2026-11-24T10:00:00".
void appendIsoDateTime(std::string& out, const CivilTime& c);
// Appends "Tue, 24 Nov 2026 10:00:00" (RFC 5322 and IMF-fixdate, without the zone).
void appendImfDateTime(std::string& out, const CivilTime& c);
// Appends "+HH:MM" (colon) or "+HHMM".
void appendOffset(std::string& out, int offsetSeconds, bool colon);

}  // namespace restd
