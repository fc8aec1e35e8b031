// Failure patterns and groups (core/failure_groups.h).
#include "core/failure_groups.h"

#include <gtest/gtest.h>

namespace jobwarden {
namespace {

TEST(FailurePatternTest, MasksNumbersIdsHexPathsAndQuotedStrings) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"timeout after 30s on img_4411.jpg", "timeout after <n>s on img_<n>.jpg"},
      {"HTTP 503 from upstream (attempt 2 of 5)", "HTTP <n> from upstream (attempt <n> of <n>)"},
      {"took 1.25 s", "took <n> s"},
      {"user 'alice' not found", "user '<str>' not found"},
      {"unexpected token \"}\" at line 3", "unexpected token \"<str>\" at line <n>"},
      {"order 3f2b9c1e-8a4d-4e2b-9f1a-0c2d3e4f5a6b is locked", "order <id> is locked"},
      {"segfault at 0x7ffd4c2a", "segfault at <hex>"},
      {"object deadbeef1234 missing", "object <hex> missing"},
      {"cannot open /var/data/run-17/in.csv: no such file", "cannot open <path>: no such file"},
      {"GET https://api.example.com/v2/items?page=4 failed", "GET <path> failed"},
      {"worker vm-1114-8b0ba1 lost", "worker vm-<n>-<hex> lost"},
      {"don't retry", "don't retry"},
      {"", ""},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(FailurePattern(in), want) << in;
}

TEST(FailurePatternTest, FiveHundredMessagesThatDifferOnlyInTheirValuesAreOnePattern) {
  std::vector<FailedAttempt> attempts;
  for (int i = 0; i < 500; ++i) {
    attempts.push_back({static_cast<JobId>(i + 1), "resize", ErrorClass::kTimeout,
                        "timeout after " + std::to_string(30 + i % 7) + "s on img_" + std::to_string(4000 + i) + ".jpg",
                        FromMillis(1'000 + i)});
  }
  attempts.push_back({900, "upload", ErrorClass::kPermanent, "bucket 'media-17' does not exist", FromMillis(5)});
  attempts.push_back({901, "thumb", ErrorClass::kTimeout, "timeout after 9s on img_1.jpg", FromMillis(3)});
  const std::vector<FailureGroup> groups = GroupFailures(attempts);
  ASSERT_EQ(groups.size(), 2u);
  const FailureGroup& big = groups[0];
  EXPECT_EQ(big.pattern, "timeout after <n>s on img_<n>.jpg");
  EXPECT_EQ(big.error_class, ErrorClass::kTimeout);
  EXPECT_EQ(big.count, 501);
  EXPECT_EQ(big.kinds, (std::vector<std::string>{"resize", "thumb"}));
  EXPECT_EQ(big.first_at, FromMillis(3));
  EXPECT_EQ(big.last_at, FromMillis(1'499));
  // The samples are the most recent, distinct jobs.
  EXPECT_EQ(big.sample_job_ids, (std::vector<JobId>{500, 499, 498, 497, 496}));
  EXPECT_EQ(groups[1].pattern, "bucket '<str>' does not exist");
  EXPECT_EQ(groups[1].count, 1);
}

TEST(FailurePatternTest, AFinalAttemptGroupsWithTheRetriedOnes) {
  const std::vector<FailureGroup> groups = GroupFailures(
      {{1, "k", ErrorClass::kTransient, "HTTP 503", FromMillis(1)},
       {1, "k", ErrorClass::kTransient, "HTTP 502 (final: no attempts left (2 of 2 used))", FromMillis(2)}});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].pattern, "HTTP <n>");
  EXPECT_EQ(groups[0].count, 2);
  EXPECT_EQ(groups[0].sample_job_ids, std::vector<JobId>{1});
}

TEST(FailurePatternTest, TheSameMessageInTwoClassesIsTwoGroups) {
  const std::vector<FailureGroup> groups =
      GroupFailures({{1, "k", ErrorClass::kTransient, "connection reset", FromMillis(1)},
                     {2, "k", ErrorClass::kPermanent, "connection reset", FromMillis(2)}});
  EXPECT_EQ(groups.size(), 2u);
}

}  // namespace
}  // namespace jobwarden
