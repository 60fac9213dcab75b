#include "tests/support/small_disk.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tests/support/process.h"

namespace kvstream::testing {

bool SmallDisk::can_mount() { return geteuid() == 0; }

SmallDisk::SmallDisk(const std::string& size) {
  char dir[] = "/tmp/kvstream-disk-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  const RunResult r =
      run_command({"/bin/mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir_});
  if (r.exit_code != 0) {
    std::filesystem::remove(dir_);
    throw std::runtime_error("mount tmpfs: " + r.out);
  }
  mounted_ = true;
}

SmallDisk::~SmallDisk() {
  if (mounted_) run_command({"/bin/umount", dir_});
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void SmallDisk::chown_like(const std::string& path) const {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || ::chown(dir_.c_str(), st.st_uid, st.st_gid) != 0) {
    throw std::runtime_error("giving " + dir_ + " to the owner of " + path + ": " +
                             std::strerror(errno));
  }
}

size_t SmallDisk::fill() {
  std::ofstream out(dir_ + "/filler", std::ios::binary);
  const std::string chunk(64 * 1024, 'x');
  size_t written = 0;
  while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())) && out.flush()) {
    written += chunk.size();
  }
  return written;
}

void SmallDisk::free_space() {
  std::error_code ec;
  std::filesystem::remove(dir_ + "/filler", ec);
}

}  // namespace kvstream::testing
