#include "core/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace jobwarden {

namespace {

struct FieldSpec {
  const char* name;
  unsigned lo, hi;
  const char* const* names;  // names[i] is the value lo + i, or nullptr
  unsigned name_count;
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr FieldSpec kFields[] = {
    {"minute", 0, 59, nullptr, 0},     {"hour", 0, 23, nullptr, 0},         {"day of month", 1, 31, nullptr, 0},
    {"month", 1, 12, kMonthNames, 12}, {"day of week", 0, 7, kDayNames, 7},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

class FieldParser {
 public:
  FieldParser(int index, const FieldSpec& spec, std::string_view text) : index_(index), spec_(spec), text_(text) {}

  Status Error(const std::string& why) const {
    return Status::InvalidArgument("cron: field " + std::to_string(index_ + 1) + " (" + spec_.name + ") '" +
                                   std::string(text_) + "': " + why);
  }

  Result<unsigned> Value(std::string_view v) const {
    if (spec_.names != nullptr) {
      const std::string lower = Lower(v);
      for (unsigned i = 0; i < spec_.name_count; ++i) {
        if (lower == spec_.names[i]) return spec_.lo + i;
      }
    }
    unsigned n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
      return Error("'" + std::string(v) + "' is not a number" + (spec_.names ? " or a name" : std::string()));
    }
    if (n < spec_.lo || n > spec_.hi) {
      return Error(std::to_string(n) + " is out of range " + std::to_string(spec_.lo) + "-" + std::to_string(spec_.hi));
    }
    return n;
  }

  // Sets the values of the field in `bits` (index = value).
  template <std::size_t N>
  Status Fill(std::bitset<N>& bits) const {
    if (text_.empty()) return Error("empty");
    for (std::string_view part : Split(text_, ',')) {
      if (part.empty()) return Error("an empty list item");
      unsigned step = 1;
      if (const std::size_t slash = part.find('/'); slash != std::string_view::npos) {
        const std::string_view s = part.substr(slash + 1);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), step);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size() || step == 0) {
          return Error("step '" + std::string(s) + "' must be a whole number of at least 1");
        }
        part = part.substr(0, slash);
      }
      unsigned lo = spec_.lo, hi = spec_.hi;
      if (part != "*") {
        const std::size_t dash = part.find('-');
        JW_ASSIGN_OR_RETURN(lo, Value(part.substr(0, dash)));
        hi = lo;
        if (dash != std::string_view::npos) {
          JW_ASSIGN_OR_RETURN(hi, Value(part.substr(dash + 1)));
          if (hi < lo) return Error("range " + std::string(part) + " runs backwards");
        } else if (step != 1) {
          hi = spec_.hi;  // "N/S": from N to the end, as Vixie cron reads it
        }
      }
      for (unsigned v = lo; v <= hi; v += step) bits.set(v);
    }
    return Status::Ok();
  }

 private:
  int index_;
  const FieldSpec& spec_;
  std::string_view text_;
};

std::string_view Macro(std::string_view word) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros = {{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  for (const auto& [name, expansion] : kMacros) {
    if (word == name) return expansion;
  }
  return {};
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view expression, std::string_view timezone) {
  CronSchedule c;
  c.expression_ = std::string(Trim(expression));
  c.timezone_ = timezone.empty() ? "UTC" : std::string(timezone);
  try {
    c.zone_ = date::locate_zone(c.timezone_);
  } catch (const std::runtime_error&) {
    return Status::InvalidArgument("timezone: '" + c.timezone_ +
                                   "' is not in the tz database (e.g. UTC, Europe/Paris)");
  }
  std::string_view text = c.expression_;
  if (text.empty()) return Status::InvalidArgument("cron: empty; give 5 fields, an @macro or '@every 30s'");
  const std::string lower = Lower(text);
  if (lower.starts_with("@every")) {
    const std::string_view d = Trim(std::string_view(lower).substr(6));
    auto every = ParseDuration(d);
    if (!every.ok())
      return Status::InvalidArgument("cron: '@every " + std::string(d) + "': " + every.status().message());
    if (*every < std::chrono::seconds(1)) return Status::InvalidArgument("cron: '@every': at least 1s");
    c.every_ = *every;
    return c;
  }
  std::string expanded;
  if (text.front() == '@') {
    const std::string_view m = Macro(lower);
    if (m.empty()) {
      return Status::InvalidArgument(
          "cron: '" + std::string(text) +
          "' is not one of @yearly @annually @monthly @weekly @daily @midnight @hourly @every");
    }
    expanded = std::string(m);
    text = expanded;
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(text, ' ')) {
    for (std::string_view g : Split(f, '\t')) {
      if (!g.empty()) fields.push_back(g);
    }
  }
  if (fields.size() != 5) {
    return Status::InvalidArgument("cron: '" + std::string(text) + "' has " + std::to_string(fields.size()) +
                                   " fields; give 5 (minute hour day-of-month month day-of-week)");
  }
  JW_RETURN_IF_ERROR(FieldParser(0, kFields[0], fields[0]).Fill(c.minutes_));
  JW_RETURN_IF_ERROR(FieldParser(1, kFields[1], fields[1]).Fill(c.hours_));
  JW_RETURN_IF_ERROR(FieldParser(2, kFields[2], fields[2]).Fill(c.days_));
  JW_RETURN_IF_ERROR(FieldParser(3, kFields[3], fields[3]).Fill(c.months_));
  std::bitset<8> weekdays;
  JW_RETURN_IF_ERROR(FieldParser(4, kFields[4], fields[4]).Fill(weekdays));
  for (unsigned d = 0; d < 7; ++d) c.weekdays_[d] = weekdays[d];
  if (weekdays[7]) c.weekdays_.set(0);
  c.days_star_ = fields[2].front() == '*';
  c.weekdays_star_ = fields[4].front() == '*';
  // An expression no date satisfies (Feb 30) would never fire: say so now.
  if (!c.NextAfter(FromMillis(0))) {
    return Status::InvalidArgument("cron: '" + std::string(text) + "' never fires (no date has that day and month)");
  }
  return c;
}

bool CronSchedule::DayMatches(unsigned day_of_month, unsigned weekday) const {
  const bool dom = days_[day_of_month], dow = weekdays_[weekday];
  if (days_star_ || weekdays_star_) return dom && dow;
  return dom || dow;
}

std::optional<Timestamp> CronSchedule::NextAfter(Timestamp after) const {
  using std::chrono::minutes;
  if (every_) {
    const std::int64_t d = every_->count();
    const std::int64_t t = ToMillis(after);
    const std::int64_t k = t >= 0 ? t / d : -((-t + d - 1) / d);  // floor
    return FromMillis((k + 1) * d);
  }
  const auto after_s = date::floor<std::chrono::seconds>(after);
  // Local minutes, from the one after `after`'s.
  auto local = date::floor<minutes>(zone_->to_local(after_s)) + minutes(1);
  const auto limit = local + date::days(366 * 8);
  while (local < limit) {
    const auto day = date::floor<date::days>(local);
    const date::year_month_day ymd(day);
    const unsigned month = static_cast<unsigned>(ymd.month());
    if (!months_[month]) {
      // The first day of the next month.
      const date::year_month_day next = date::year_month_day(ymd.year() / ymd.month() / 1) + date::months(1);
      local = date::local_days(next);
      continue;
    }
    const unsigned weekday = date::weekday(day).c_encoding();
    if (!DayMatches(static_cast<unsigned>(ymd.day()), weekday)) {
      local = day + date::days(1);
      continue;
    }
    const date::hh_mm_ss<minutes> hms(local - day);
    const unsigned hour = static_cast<unsigned>(hms.hours().count());
    if (!hours_[hour]) {
      local = day + std::chrono::hours(hour + 1);
      continue;
    }
    if (!minutes_[static_cast<unsigned>(hms.minutes().count())]) {
      local += minutes(1);
      continue;
    }
    // A matching local minute: when is it?
    const date::local_info info = zone_->get_info(local);
    date::sys_seconds at;
    if (info.result == date::local_info::nonexistent) {
      at = info.first.end;  // skipped by the clocks: fire as they jump
    } else {
      at = date::sys_seconds((local - info.first.offset).time_since_epoch());  // unique, or the first of two
    }
    const Timestamp fire = std::chrono::time_point_cast<Duration>(at);
    if (fire > after) return fire;
    local += minutes(1);
  }
  return std::nullopt;
}

}  // namespace jobwarden
