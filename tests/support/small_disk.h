// A folder on a small tmpfs of its own, for a Postgres tablespace that runs
// out of space. Root only (mount): can_mount() says whether it can be made.
//
//   SmallDisk disk("64m");
//   // CREATE TABLESPACE small LOCATION '<disk.dir()>' (owned by postgres)
//   disk.fill();          // a file takes every byte left
//   disk.free_space();    // and goes again
#pragma once

#include <cstddef>
#include <string>

namespace kvstream::testing {

class SmallDisk {
 public:
  static bool can_mount();

  // Mounts a tmpfs of `size` (mount's notation: 64m, 1g) on a new folder
  // under /tmp; throws std::runtime_error if it cannot.
  explicit SmallDisk(const std::string& size);
  ~SmallDisk();  // unmounts it and removes the folder
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  const std::string& dir() const { return dir_; }
  // Gives the folder to the owner of `path` (a Postgres data directory), as
  // CREATE TABLESPACE wants.
  void chown_like(const std::string& path) const;
  // Writes a file until the disk is full; returns its size.
  size_t fill();
  // Removes that file.
  void free_space();

 private:
  std::string dir_;
  bool mounted_ = false;
};

}  // namespace kvstream::testing
