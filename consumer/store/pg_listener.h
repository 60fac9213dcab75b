// LISTEN on a Postgres notification channel, on a connection of its own,
// polled without blocking. A replica listens on `kvstream_view`, which
// `kvstream-consumer rebuild --switch` notifies when it moves a rebuilt view
// in place of the served tables.
//
//   PgListener listener(pg, "kvstream_view");
//   PgListener::Received r = listener.poll();   // every few hundred ms
//   if (r.restarted || !r.payloads.empty()) ...  // may have missed some
//
// Not thread-safe: one thread polls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/pg_store.h"

namespace kvstream::store {

// The channel of view switches; the payload is the served schema's name.
inline constexpr const char* kViewSwitchChannel = "kvstream_view";

class PgListener {
 public:
  PgListener(PgSettings settings, std::string channel);
  ~PgListener();
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  struct Received {
    std::vector<std::string> payloads;  // the notifications since the last poll
    // Listening (re)started on a new connection in this poll: notifications
    // sent while there was none were missed.
    bool restarted = false;
  };
  // Connects and listens first if it is not listening. Does not block on
  // notifications. Throws kvstream::Error when the database cannot be
  // reached or the connection broke (the next poll starts again).
  Received poll();

 private:
  class Receiver;
  // Closes the connection, then forgets it and the receiver.
  void drop();

  const PgSettings settings_;
  const std::string channel_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Receiver> receiver_;  // destroyed before conn_
  std::vector<std::string> received_;
};

}  // namespace kvstream::store
