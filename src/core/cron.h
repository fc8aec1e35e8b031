// When a schedule fires (DESIGN.md "Schedules"): a 5-field cron expression or
// "@every D", in a time zone of the tz database.
//
// Written here because Debian packages no C++ cron library; the time zones
// come from Howard Hinnant's date/tz (Debian's libhowardhinnant-date-dev,
// reading the system's tzdata), since GCC 12's <chrono> has no tzdb.
//
// Cron, as in Vixie cron / crontab(5):
//   minute hour day-of-month month day-of-week
//   each field: `*`, N, N-M, lists "a,b", steps "*/S" and "N-M/S"; months
//   jan..dec and weekdays sun..sat by name (case-insensitive), weekday 7 = 0 =
//   Sunday. When both day fields are restricted (neither starts with `*`), a
//   day matches either (crontab(5)); otherwise both must match.
//   @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
// Daylight-saving time: a local time that happens twice fires once (at its
// first occurrence); a local time the clocks skip fires at the moment the
// clocks jump (so a daily 02:30 still runs on the day of the change).
//
// "@every D" (D at least 1 s) fires at every multiple of D since the Unix
// epoch, whatever the time zone: every process computes the same fire times,
// which is what makes a fire's unique_key the same on every server.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/time.h"

namespace date {
class time_zone;
}

namespace jobwarden {

class CronSchedule {
 public:
  // Errors name what does not parse: "cron: field 2 (hour) '25': out of range 0-23",
  // "timezone: 'Mars/Olympus' is not in the tz database".
  static Result<CronSchedule> Parse(std::string_view expression, std::string_view timezone = "UTC");

  // The first fire strictly after `after`; nullopt if there is none within
  // eight years (an expression such as "0 0 30 2 *" never fires: Parse refuses it).
  std::optional<Timestamp> NextAfter(Timestamp after) const;

  const std::string& expression() const { return expression_; }
  const std::string& timezone() const { return timezone_; }
  // Set for "@every D".
  std::optional<Duration> every() const { return every_; }

 private:
  CronSchedule() = default;
  bool DayMatches(unsigned day_of_month, unsigned weekday) const;

  std::string expression_;
  std::string timezone_;
  const date::time_zone* zone_ = nullptr;
  std::optional<Duration> every_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

}  // namespace jobwarden
