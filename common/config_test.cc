#include "common/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace kvstream {
namespace {

TEST(Config, MasksPasswordsInUris) {
  EXPECT_EQ(mask_uri_password("postgresql://kv:s3cret@db:5432/kv?sslmode=require"),
            "postgresql://kv:***@db:5432/kv?sslmode=require");
  EXPECT_EQ(mask_uri_password("postgresql://kv@db/kv?password=s3cret&sslmode=require"),
            "postgresql://kv@db/kv?password=***&sslmode=require");
  EXPECT_EQ(mask_uri_password("postgresql://db/kv"), "postgresql://db/kv");
}

TEST(Config, ReadsSecretsFromFilesAndDescribesThemMasked) {
  const std::string path = "/tmp/kvstream-config-test-secret";
  {
    std::ofstream out(path);
    out << "postgresql://kv:hunter2@db/kv\n";
  }
  unsetenv("KVSTREAM_TEST_SECRET_URL");
  setenv("KVSTREAM_TEST_SECRET_URL_FILE", path.c_str(), 1);
  CLI::App app;
  std::string url;
  app.add_option("--pg-url", url)->envname("KVSTREAM_TEST_SECRET_URL");
  read_env_files(app);
  app.parse(std::vector<std::string>{});
  EXPECT_EQ(url, "postgresql://kv:hunter2@db/kv");
  KafkaSettings kafka;
  kafka.properties["sasl.password"] = "pw";
  kafka.properties["security.protocol"] = "sasl_ssl";
  const std::string described = describe_config(app, kafka);
  EXPECT_EQ(described.find("hunter2"), std::string::npos) << described;
  EXPECT_NE(described.find("pg-url = postgresql://kv:***@db/kv"), std::string::npos) << described;
  EXPECT_NE(described.find("kafka.sasl.password = ***"), std::string::npos) << described;
  EXPECT_NE(described.find("kafka.security.protocol = sasl_ssl"), std::string::npos);
  unsetenv("KVSTREAM_TEST_SECRET_URL");
  unsetenv("KVSTREAM_TEST_SECRET_URL_FILE");
  std::remove(path.c_str());
}

TEST(Config, ReportsUnknownVariables) {
  setenv("KVSTREAM_BROKRES", "typo", 1);
  setenv("KVSTREAM_KAFKA_LINGER_MS", "5", 1);
  CLI::App app;
  KafkaSettings kafka;
  add_kafka_options(app, kafka);
  const auto unknown = unknown_env(app);
  EXPECT_NE(std::find(unknown.begin(), unknown.end(), "KVSTREAM_BROKRES"), unknown.end());
  EXPECT_EQ(std::find(unknown.begin(), unknown.end(), "KVSTREAM_KAFKA_LINGER_MS"), unknown.end());
  EXPECT_EQ(std::find(unknown.begin(), unknown.end(), "KVSTREAM_TOPIC"), unknown.end());
  unsetenv("KVSTREAM_BROKRES");
  unsetenv("KVSTREAM_KAFKA_LINGER_MS");
}

}  // namespace
TEST(Config, TopicNamesFollowKafkasRule) {
  EXPECT_EQ(check_topic_name("kv-events"), "");
  EXPECT_EQ(check_topic_name("kv_events.dlq-2"), "");
  EXPECT_EQ(check_topic_name(std::string(249, 't')), "");
  EXPECT_NE(check_topic_name(""), "");
  EXPECT_NE(check_topic_name(std::string(250, 't')), "");
  EXPECT_NE(check_topic_name("."), "");
  EXPECT_NE(check_topic_name(".."), "");
  EXPECT_NE(check_topic_name("kv events"), "");
  EXPECT_NE(check_topic_name("kv/events"), "");
  EXPECT_NE(check_topic_name("k\xc3\xa9"), "");
}

}  // namespace kvstream
