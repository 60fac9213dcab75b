#include <iostream>

#include "producer/cli.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);  // stdin is read in bulk (put -, import -)
  return kvstream::producer::run_cli(argc, argv);
}
