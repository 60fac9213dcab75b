// An in-memory view for unit tests of what reads the view through the
// ViewReader seam (view/view_reader.h): rows by key, the applied positions,
// and a switch that makes the database "down". get() answers on the
// caller's thread, or, while held, when the test releases it (a slow
// query). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "view/view_reader.h"

namespace kvstream::fakes {

class FakeViewReader : public view::ViewReader {
 public:
  // A PUT (value) or a tombstone (nullopt) of `key` at `position`.
  void put(const std::string& key, std::optional<std::string> value, Position position,
           std::string content_type = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    rows_[key] = view::StoredRow{std::move(value), std::move(content_type), position};
  }
  void set_applied(int32_t partition, int64_t next_offset) {
    std::lock_guard<std::mutex> lock(mu_);
    applied_[partition] = next_offset;
  }
  // While down, every call fails with a transient error.
  void set_down(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  // While held, get() reads the row at once but answers only on
  // release_gets(): what a query that raced later writes would return.
  void hold_gets(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = on;
  }
  // Answers the held gets, oldest first; returns how many.
  size_t release_gets() {
    std::vector<std::pair<GetDone, std::optional<view::StoredRow>>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& [done, row] : held) done(std::move(row), nullptr);
    return held.size();
  }
  // How many get() calls reached the "database".
  size_t gets() const {
    std::lock_guard<std::mutex> lock(mu_);
    return gets_;
  }

  void get(std::string key, GetDone done) override {
    std::optional<view::StoredRow> row;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++gets_;
      if (down_) {
        const Error error(ErrorKind::kTransient, "fake database down");
        done(std::nullopt, &error);
        return;
      }
      if (auto it = rows_.find(key); it != rows_.end()) row = it->second;
      if (hold_) {
        held_.emplace_back(std::move(done), std::move(row));
        return;
      }
    }
    done(std::move(row), nullptr);
  }

  view::Listing list(const std::string& prefix, const std::string& after, size_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) throw Error(ErrorKind::kTransient, "fake database down");
    view::Listing listing;
    listing.next_offsets = applied_;
    auto& out = listing.rows;
    for (auto it = rows_.upper_bound(after); it != rows_.end() && out.size() < limit; ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) continue;
      if (!it->second.value) continue;  // tombstones are not listed
      out.push_back(view::ListedRow{it->first, *it->second.value, it->second.content_type,
                                    it->second.position, "2026-01-01T00:00:00Z"});
    }
    return listing;
  }

  std::map<int32_t, int64_t> applied_positions() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) throw Error(ErrorKind::kTransient, "fake database down");
    return applied_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, view::StoredRow> rows_;  // bytewise order, like the kv table's
  std::map<int32_t, int64_t> applied_;
  bool down_ = false;
  bool hold_ = false;
  std::vector<std::pair<GetDone, std::optional<view::StoredRow>>> held_;
  size_t gets_ = 0;
};

}  // namespace kvstream::fakes
