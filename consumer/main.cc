#include "cli.h"

int main(int argc, char** argv) { return kvstream::run_consumer_cli(argc, argv); }
