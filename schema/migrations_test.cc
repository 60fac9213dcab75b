// The migrator's pure decisions: which version a binary knows, and when it
// refuses a database (the database side is tests/integration/migrations_test.cc).
#include "schema/migrations.h"

#include <gtest/gtest.h>

namespace kvstream::schema {
namespace {

TEST(SchemaVersion, NewestVersionIsTheHighestNumber) {
  EXPECT_EQ(newest_version({}), 0);
  EXPECT_EQ(
      newest_version(load_migrations({{"0002_b.sql", ""}, {"0010_c.sql", ""}, {"0001_a.sql", ""}})),
      10);
}

TEST(SchemaVersion, TheEmbeddedMigrationsAreNumberedWithoutGaps) {
  const auto migrations = load_migrations(embedded_migrations());
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << migrations[i].name;
  }
  EXPECT_EQ(migrations.back().name, "migrations_applied_by");
}

TEST(SchemaVersion, ADatabaseAtOrBehindTheBinaryIsAccepted) {
  EXPECT_EQ(newer_schema_refusal(0, 3, "kvstream-consumer 0.1.0"), "");  // never migrated
  EXPECT_EQ(newer_schema_refusal(2, 3, "kvstream-consumer 0.1.0"), "");  // pending migrations
  EXPECT_EQ(newer_schema_refusal(3, 3, "kvstream-consumer 0.1.0"), "");
}

TEST(SchemaVersion, ANewerDatabaseIsRefusedWithOneLineNamingBothVersions) {
  const std::string refusal = newer_schema_refusal(4, 3, "kvstream-consumer 0.1.0");
  EXPECT_EQ(refusal,
            "the database schema is at version 4 but this binary (kvstream-consumer 0.1.0) "
            "knows migrations up to version 3: upgrade the binary, or restore the database "
            "from a backup taken before the newer migrations");
  EXPECT_EQ(refusal.find('\n'), std::string::npos);
}

TEST(SchemaVersion, ARefusalWithoutAProgramNameSaysThisBinary) {
  EXPECT_EQ(
      newer_schema_refusal(9001, 0, "")
          .rfind("the database schema is at version 9001 but this binary knows migrations up to "
                 "version 0: ",
                 0),
      0u);
}

}  // namespace
}  // namespace kvstream::schema
