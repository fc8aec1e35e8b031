#include "core/failure_groups.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <tuple>

#include "core/lifecycle.h"

namespace jobwarden {

namespace {

bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
// A character that can be part of a word next to a number ("img_4411", "30s").
bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// 8-4-4-4-12 hex digits at `s`.
bool IsUuidAt(std::string_view s) {
  static constexpr int kGroups[] = {8, 4, 4, 4, 12};
  std::size_t i = 0;
  for (int g = 0; g < 5; ++g) {
    for (int k = 0; k < kGroups[g]; ++k, ++i) {
      if (i >= s.size() || !IsHex(s[i])) return false;
    }
    if (g < 4) {
      if (i >= s.size() || s[i] != '-') return false;
      ++i;
    }
  }
  return i == s.size() || !IsHex(s[i]);
}

// The length of a hex token at `s` (0x..., or 6+ hex digits with at least one
// digit and one letter, not inside a longer word: "8b0ba1", "deadbeef1234"), or 0.
std::size_t HexAt(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && IsHex(s[2])) {
    std::size_t n = 2;
    while (n < s.size() && IsHex(s[n])) ++n;
    return n;
  }
  std::size_t n = 0;
  bool digit = false, letter = false;
  while (n < s.size() && IsHex(s[n])) {
    (IsDigit(s[n]) ? digit : letter) = true;
    ++n;
  }
  if (n >= 6 && digit && letter && (n == s.size() || !IsWordChar(s[n]))) return n;
  return 0;
}

}  // namespace

std::string FailurePattern(std::string_view m) {
  std::string out;
  out.reserve(m.size());
  std::size_t i = 0;
  while (i < m.size()) {
    const char c = m[i];
    const bool word_start = i == 0 || !IsWordChar(m[i - 1]);
    // Quoted strings: up to the matching quote on the same line.
    if (c == '"' || c == '\'' || c == '`') {
      const std::size_t end = m.find(c, i + 1);
      // An apostrophe inside a word ("don't") is not a quote.
      if (end != std::string_view::npos && (c != '\'' || word_start) &&
          m.substr(i, end - i).find('\n') == std::string_view::npos) {
        out += c;
        out += "<str>";
        out += c;
        i = end + 1;
        continue;
      }
    }
    if (word_start && IsHex(c) && IsUuidAt(m.substr(i, 36))) {
      out += "<id>";
      i += 36;
      continue;
    }
    // A word holding a '/' is a path or a URL, masked whole.
    if (word_start && !IsSpace(c)) {
      std::size_t end = i;
      while (end < m.size() && !IsSpace(m[end]) && m[end] != '"' && m[end] != '\'' && m[end] != ',' && m[end] != ';' &&
             m[end] != '(' && m[end] != ')') {
        ++end;
      }
      // Trailing punctuation of a sentence stays ("... in /tmp/x.").
      while (end > i && (m[end - 1] == '.' || m[end - 1] == ':')) --end;
      const std::string_view token = m.substr(i, end - i);
      if (token.find('/') != std::string_view::npos && token.size() > 1) {
        out += "<path>";
        i = end;
        continue;
      }
    }
    if (word_start) {
      if (const std::size_t n = HexAt(m.substr(i)); n > 0) {
        out += "<hex>";
        i += n;
        continue;
      }
    }
    if (IsDigit(c)) {
      std::size_t end = i;
      while (end < m.size() && (IsDigit(m[end]) || ((m[end] == '.' || m[end] == ',') && end + 1 < m.size() &&
                                                    IsDigit(m[end + 1]) && end > i))) {
        ++end;
      }
      out += "<n>";
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

std::vector<FailureGroup> GroupFailures(const std::vector<FailedAttempt>& attempts) {
  std::map<std::pair<ErrorClass, std::string>, FailureGroup> groups;
  std::map<std::pair<ErrorClass, std::string>, std::set<std::string>> kinds;
  // Newest first, so the samples are the most recent.
  std::vector<const FailedAttempt*> by_time;
  by_time.reserve(attempts.size());
  for (const FailedAttempt& a : attempts) by_time.push_back(&a);
  std::stable_sort(by_time.begin(), by_time.end(),
                   [](const FailedAttempt* a, const FailedAttempt* b) { return a->at > b->at; });
  for (const FailedAttempt* a : by_time) {
    auto key = std::make_pair(a->error_class, FailurePattern(WithoutFinalNote(a->message)));
    auto [it, fresh] = groups.try_emplace(key);
    FailureGroup& g = it->second;
    if (fresh) {
      g.pattern = key.second;
      g.error_class = a->error_class;
      g.first_at = a->at;
      g.last_at = a->at;
    }
    ++g.count;
    g.first_at = std::min(g.first_at, a->at);
    g.last_at = std::max(g.last_at, a->at);
    if (g.sample_job_ids.size() < kFailureSamples &&
        std::find(g.sample_job_ids.begin(), g.sample_job_ids.end(), a->job_id) == g.sample_job_ids.end()) {
      g.sample_job_ids.push_back(a->job_id);
    }
    kinds[key].insert(a->kind);
  }
  std::vector<FailureGroup> out;
  out.reserve(groups.size());
  for (auto& [key, g] : groups) {
    g.kinds.assign(kinds[key].begin(), kinds[key].end());
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const FailureGroup& a, const FailureGroup& b) {
    return std::tie(b.count, b.last_at) < std::tie(a.count, a.last_at);
  });
  return out;
}

}  // namespace jobwarden
