// OpenStore(url): the one place that maps a --db value to a driver.
#include "store/open_store.h"

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace jobwarden {
namespace {

TEST(OpenStoreTest, ParsesPathsAndSqliteUrls) {
  struct Case {
    std::string url, target;
  };
  for (const Case& c : std::vector<Case>{{"var/jobwarden.db", "var/jobwarden.db"},
                                         {"/abs/x.db", "/abs/x.db"},
                                         {"sqlite:var/x.db", "var/x.db"},
                                         {"sqlite:///abs/x.db", "/abs/x.db"},
                                         {"sqlite:/abs/x.db", "/abs/x.db"},
                                         {"./a:b.db", "./a:b.db"}}) {
    auto where = ParseStoreUrl(c.url);
    ASSERT_TRUE(where.ok()) << c.url << ": " << where.status().ToString();
    EXPECT_EQ(where->driver, StoreDriver::kSqlite) << c.url;
    EXPECT_EQ(where->target, c.target) << c.url;
  }
  auto pg = ParseStoreUrl("postgresql://u@127.0.0.1/jw");
  ASSERT_TRUE(pg.ok());
  EXPECT_EQ(pg->driver, StoreDriver::kPostgres);
  EXPECT_EQ(pg->target, "postgresql://u@127.0.0.1/jw");
}

TEST(OpenStoreTest, RefusesWhatNamesNoDriverAndSaysWhich) {
  for (const char* url : {"", "mysql://h/db", "sqlite:", "redis:x"}) {
    auto where = ParseStoreUrl(url);
    ASSERT_FALSE(where.ok()) << url;
    EXPECT_EQ(where.status().code(), StatusCode::kInvalidArgument) << url;
  }
  EXPECT_NE(ParseStoreUrl("mysql://h/db").status().message().find("mysql://h/db"), std::string::npos);
  auto pg = OpenStore("postgresql:///jw");
  ASSERT_FALSE(pg.ok());
  EXPECT_EQ(pg.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pg.status().message().find("PostgreSQL"), std::string::npos) << pg.status().ToString();
}

TEST(OpenStoreTest, OpensSqliteByUrlAndCreatesItsDirectory) {
  testing::TempDir dir;
  const std::string path = dir.File("sub/dir/jobs.db");
  auto store = OpenStore("sqlite:" + path);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_NE((*store)->Describe().find(path), std::string::npos) << (*store)->Describe();
  auto again = OpenStore(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
}

}  // namespace
}  // namespace jobwarden
