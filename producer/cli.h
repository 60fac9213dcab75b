// The kvstream-producer command line, as a library function so tests can
// drive it: `run_cli(argc, argv)` returns the process exit code.
//
//   kvstream-producer put KEY VALUE       publish a PUT; prints partition:offset
//   kvstream-producer put KEY --file F    ... with the bytes of file F
//   kvstream-producer put KEY -           ... with the bytes of stdin
//   kvstream-producer delete KEY          publish a DELETE (a tombstone)
//   kvstream-producer import FILE         publish the events of an NDJSON or TSV file
//   kvstream-producer load --count N      generate load; prints a summary
//
// Configuration: flags or KVSTREAM_* environment variables (a flag wins);
// `--help` lists them. Logs and progress go to stderr; stdout carries only
// the result (a position, or the summary of import and load).
#pragma once

namespace kvstream::producer {

// Exit codes that scripts can rely on. If any accepted event was not
// delivered, the code is 1 whatever else happened.
enum ExitCode : int {
  kExitDelivered = 0,     // every accepted event was delivered
  kExitUndelivered = 1,   // some event was not delivered (broker, network, timeout)
  kExitUsage = 2,         // usage or configuration error; nothing was sent
  kExitInvalid = 3,       // put/delete: the event breaks the contract;
                          // import --strict: a bad line stopped the import
  kExitInterrupted = 130  // SIGINT/SIGTERM during import or load (after a bounded close)
};

int run_cli(int argc, char** argv);

}  // namespace kvstream::producer
