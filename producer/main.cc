#include "producer/cli.h"

int main(int argc, char** argv) { return kvstream::producer::run_cli(argc, argv); }
