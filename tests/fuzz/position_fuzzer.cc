// libFuzzer target for position tokens ("partition:offset", common/position.h):
// whatever parses prints back to a token that parses to the same position,
// and the printed form is canonical (it prints to itself).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/position.h"

namespace {
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto p = kvstream::parse_position(text);
  if (!p) return 0;
  check(p->partition >= 0 && p->offset >= 0, "a position is non-negative");
  const std::string printed = kvstream::to_string(*p);
  auto again = kvstream::parse_position(printed);
  check(again && *again == *p, "a position prints and parses back");
  check(kvstream::to_string(*again) == printed, "the printed form is canonical");
  return 0;
}
