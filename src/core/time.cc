#include "core/time.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace jobwarden {

// On the job path (every timestamp of every job answer): civil-date
// arithmetic and digits written in place, not gmtime_r (which takes glibc's
// time-zone lock) and snprintf.
std::string FormatRfc3339(Timestamp t) {
  using namespace std::chrono;
  const sys_days day = floor<days>(t);
  const year_month_day ymd(day);
  const int y = static_cast<int>(ymd.year());
  const std::int64_t ms = (t - day).count();  // within the day: 0 .. 86,399,999
  if (y < 0 || y > 9999) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<int>(ms / 3'600'000),
                  static_cast<int>(ms / 60'000 % 60), static_cast<int>(ms / 1000 % 60), static_cast<int>(ms % 1000));
    return buf;
  }
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](std::size_t at, std::size_t width, std::int64_t v) {
    for (std::size_t i = at + width; i > at; --i, v /= 10) out[i - 1] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, y);
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, ms / 3'600'000);
  put(14, 2, ms / 60'000 % 60);
  put(17, 2, ms / 1000 % 60);
  put(20, 3, ms % 1000);
  return out;
}

namespace {

bool ReadInt(std::string_view s, std::size_t pos, std::size_t len, int* out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<Timestamp> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(s) + "' is not an RFC 3339 time (want 2026-01-31T12:00:00.000Z)");
  };
  int year, mon, day, hour, min, sec;
  if (!ReadInt(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !ReadInt(s, 5, 2, &mon) || s[7] != '-' ||
      !ReadInt(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !ReadInt(s, 11, 2, &hour) ||
      s[13] != ':' || !ReadInt(s, 14, 2, &min) || s[16] != ':' || !ReadInt(s, 17, 2, &sec)) {
    return bad();
  }
  if (mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 || sec > 60) return bad();
  // timegm() would quietly turn 2026-02-31 into March 3: check the month's length.
  static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDaysIn[mon - 1] + (mon == 2 && leap ? 1 : 0)) return bad();
  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad();
    for (int d = digits; d < 3; ++d) millis *= 10;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ReadInt(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !ReadInt(s, pos + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset_min * 60;
  return FromMillis(secs * 1000 + millis);
}

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a duration (" + std::string(why) +
                                   "; use e.g. 500ms, 30s, 5m, 2h)");
  };
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative");
  double total_ms = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    while (pos < text.size() && ((text[pos] >= '0' && text[pos] <= '9') || text[pos] == '.')) ++pos;
    if (pos == start) return bad("expected a number");
    const std::string number(text.substr(start, pos - start));
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return bad("bad number");
    std::size_t unit_start = pos;
    while (pos < text.size() && ((text[pos] >= 'a' && text[pos] <= 'z') || (text[pos] >= 'A' && text[pos] <= 'Z')))
      ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    double factor;
    if (unit.empty()) {
      if (start != 0 || pos != text.size()) return bad("missing unit");
      factor = 1000;  // a bare number is seconds
    } else if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60'000;
    } else if (unit == "h") {
      factor = 3'600'000;
    } else if (unit == "d") {
      factor = 86'400'000;
    } else {
      return bad("unknown unit '" + std::string(unit) + "'");
    }
    total_ms += value * factor;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e15) return bad("too large");
  return Duration(static_cast<std::int64_t>(std::llround(total_ms)));
}

double ToSeconds(Duration d) { return static_cast<double>(d.count()) / 1000.0; }

Result<Duration> FromSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return Status::InvalidArgument("must be a non-negative number of seconds");
  if (seconds > 1e12) return Status::InvalidArgument("is too large");
  return Duration(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

std::string FormatDurationShort(Duration d) {
  std::int64_t ms = d.count();
  const char* sign = "";
  if (ms < 0) {
    sign = "-";
    ms = -ms;
  }
  char buf[48];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%s%lldms", sign, static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%s%.1fs", sign, static_cast<double>(ms) / 1000.0);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%s%lldm%02llds", sign, static_cast<long long>(ms / 60'000),
                  static_cast<long long>((ms / 1000) % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%s%lldh%02lldm", sign, static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>((ms / 60'000) % 60));
  }
  return buf;
}

}  // namespace jobwarden
