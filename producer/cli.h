// The kvstream-producer command line, as a library function so tests can
// drive it: `run_cli(argc, argv)` returns the process exit code.
//
//   kvstream-producer put KEY VALUE     publish a PUT; prints partition:offset
//   kvstream-producer delete KEY        publish a DELETE (a tombstone)
//
// Exit codes: 0 delivered; 1 not delivered (broker, network); 2 usage or
// configuration error; 3 the event breaks the record contract.
#pragma once

namespace kvstream::producer {

int run_cli(int argc, char** argv);

}  // namespace kvstream::producer
