// The kvstream-consumer command line, as a library function:
//
//   kvstream-consumer            run a replica (until SIGTERM/SIGINT)
//   kvstream-consumer migrate    apply pending Postgres migrations and exit
//   kvstream-consumer check      check the topics, positions and schema
//                                (check_command.h), change nothing, exit
//
// Exit codes: 0 clean stop; 1 a fatal error while running; 2 bad
// configuration (one line on stderr says which setting and why), or a
// start refused (a newer schema, a failed deployment check). `check` has
// its own: 0 nothing refuses, 1 a check refuses, 2 bad configuration or a
// server it could not ask.
#pragma once

namespace kvstream {

int run_consumer_cli(int argc, char** argv);

}  // namespace kvstream
