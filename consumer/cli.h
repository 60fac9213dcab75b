// The kvstream-consumer command line, as a library function:
//
//   kvstream-consumer            run a replica (until SIGTERM/SIGINT)
//   kvstream-consumer migrate    apply pending Postgres migrations and exit
//
// Exit codes: 0 clean stop; 1 a fatal error while running; 2 bad
// configuration (one line on stderr says which setting and why).
#pragma once

namespace kvstream {

int run_consumer_cli(int argc, char** argv);

}  // namespace kvstream
