#include "store/pg_listener.h"

#include <pqxx/notification>
#include <pqxx/pqxx>
#include <utility>

#include "store/pg_errors.h"

namespace kvstream::store {

class PgListener::Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, std::vector<std::string>& sink)
      : pqxx::notification_receiver(conn, channel), sink_(sink) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    sink_.push_back(payload);
  }

 private:
  std::vector<std::string>& sink_;
};

PgListener::PgListener(PgSettings settings, std::string channel)
    : settings_(std::move(settings)), channel_(std::move(channel)) {}

PgListener::~PgListener() { drop(); }

void PgListener::drop() {
  // Closed first: the receiver would otherwise send UNLISTEN, which may
  // wait on a server that does not answer.
  if (conn_) conn_->disconnect();
  receiver_.reset();
  conn_.reset();
}

PgListener::Received PgListener::poll() {
  Received out;
  try {
    if (!conn_ || !conn_->is_open()) {
      drop();
      conn_ = connect(settings_, "kvstream-listen");
      receiver_ = std::make_unique<Receiver>(*conn_, channel_, received_);  // LISTEN
      out.restarted = true;
    }
    conn_->get_notifs();  // reads what has arrived, without waiting
  } catch (...) {
    drop();
    received_.clear();
    rethrow_as_error("listening on " + channel_);
  }
  out.payloads = std::exchange(received_, {});
  return out;
}

}  // namespace kvstream::store
