// The seam between the HTTP API and the change feed of the view
// (GET /v1/watch; consumer/watch/ serves it): what a watch asks for, and how
// it is answered, with an error or with a stream of events.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "http/server.h"

namespace kvstream::http {

struct WatchRequest {
  std::string prefix;
  bool values = true;  // ?values=false leaves values out
  // Per partition, the last offset the client has seen (-1: none); a
  // partition it leaves out starts at its beginning. nullopt: from now (what
  // the view has applied when the watch starts).
  std::optional<std::map<int32_t, int64_t>> from;
  unsigned version = 11;
  std::string request_id;
};

// How a watch is answered: exactly one of answer() (an error, or a refusal)
// or stream() (the events). Any thread.
class WatchReply {
 public:
  virtual ~WatchReply() = default;
  virtual void answer(Response res) = 0;
  virtual std::shared_ptr<EventStream> stream(Response header) = 0;
};

using WatchOpener = std::function<void(WatchRequest, std::unique_ptr<WatchReply>)>;

}  // namespace kvstream::http
