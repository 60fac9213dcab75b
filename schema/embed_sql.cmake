# Writes OUTPUT: a C++ source defining kvstream::schema::embedded_migrations(),
# the migration files given in FILES (semicolon list, in order) as string
# literals. Run with cmake -P at build time.
set(body "")
foreach(path IN LISTS FILES)
  get_filename_component(name "${path}" NAME)
  file(READ "${path}" sql)
  string(APPEND body "      {\"${name}\", R\"kvsql(${sql})kvsql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp"
"// Generated from schema/sql/*.sql by schema/embed_sql.cmake. Do not edit.
#include \"schema/migrations.h\"

namespace kvstream::schema {

const std::vector<EmbeddedMigration>& embedded_migrations() {
  static const std::vector<EmbeddedMigration> all = {
${body}  };
  return all;
}

}  // namespace kvstream::schema
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
