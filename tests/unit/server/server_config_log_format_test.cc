// `[server] log_format` (server/server_config.h): text by default, json when
// asked, and anything else refused naming the key and the value.
#include <gtest/gtest.h>

#include <fstream>

#include "server/server_config.h"
#include "testutil/temp_dir.h"

namespace jobwarden::server {
namespace {

Result<ServerConfig> Load(const testing::TempDir& dir, const std::string& toml) {
  const std::string path = dir.File("server.toml");
  std::ofstream(path) << toml;
  return LoadServerConfig(path);
}

TEST(ServerConfigLogFormatTest, DefaultIsText) {
  testing::TempDir dir;
  auto c = Load(dir, "[server]\nlisten = \"127.0.0.1:0\"\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->log_format, LogFormat::kText);
}

TEST(ServerConfigLogFormatTest, JsonAndTextAreAccepted) {
  testing::TempDir dir;
  auto json = Load(dir, "[server]\nlog_format = \"json\"\n");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->log_format, LogFormat::kJson);
  auto text = Load(dir, "[server]\nlog_format = \"text\"\n");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->log_format, LogFormat::kText);
}

TEST(ServerConfigLogFormatTest, UnknownValuesAreRefusedNamingKeyAndValue) {
  testing::TempDir dir;
  auto bogus = Load(dir, "[server]\nlog_format = \"bogus\"\n");
  ASSERT_FALSE(bogus.ok());
  EXPECT_EQ(bogus.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bogus.status().message().find("server.log_format"), std::string::npos) << bogus.status().message();
  EXPECT_NE(bogus.status().message().find("'bogus'"), std::string::npos) << bogus.status().message();
  auto number = Load(dir, "[server]\nlog_format = 1\n");
  ASSERT_FALSE(number.ok());
  EXPECT_NE(number.status().message().find("server.log_format"), std::string::npos) << number.status().message();
}

}  // namespace
}  // namespace jobwarden::server
