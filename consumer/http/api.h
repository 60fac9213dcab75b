// The kvstream HTTP API over the materialized view. The routes, their
// parameters and every answer are in docs/openapi.yaml; in short:
//
//   GET|HEAD /v1/kv/{key}     the value (stored content type, ETag,
//                             X-KV-Position); 304 on If-None-Match; 404 if
//                             missing or deleted. From the view cache when it
//                             holds the key (X-KV-Cache: hit), else Postgres.
//   GET|HEAD /v1/kv           a page of live keys: ?prefix=&limit=&after=, and
//                             the positions it is consistent at
//   GET /v1/watch             the changes of keys under ?prefix= as they are
//                             applied, from ?from= or Last-Event-ID
//                             (Server-Sent Events; consumer/watch/)
//   PUT|DELETE /v1/kv/{key}   publish the event to Kafka: 202 with its
//                             position; with ?wait=applied, 201 / 200 once
//                             applied
//   GET|HEAD /v1/status       partitions, applied positions, lag, cache
//   GET|HEAD /healthz         the process serves
//   GET|HEAD /readyz          Postgres reachable and group joined, else 503
//   GET|HEAD /metrics         Prometheus text
//
// Read-your-writes: reads take `min_position=p:o[,p:o...]` (query) and/or
// `X-KV-Min-Position` (header) and `timeout_ms`; they answer once those
// positions (of both, when both are sent) are applied by whichever replica
// owns them, or 504 `not_yet_applied` with Retry-After when the wait ends
// first.
//
// Every answer carries X-Request-ID (the client's, when it sent a sane one,
// else a new one). Errors are JSON: {"error":"<stable code>","message":"..."}.
// Optional bearer tokens protect reads and writes separately (probes and
// /metrics stay open); optional token-bucket rate limits answer 429 with
// Retry-After; database reads go through a circuit breaker that answers 503
// at once after repeated failures, until the database answers again.
//
// Thread-safe. A cache hit is answered on the I/O thread that read the
// request, without a hand-off and without locks beyond the cache shard's; a
// cache miss is read from the database by the I/O threads too,
// asynchronously (view::CachedView, whose reader answers there). A write is
// handed to the Publisher there too, unless its queue is full (then a
// `db_executor` thread waits for room). Listings run on `db_executor` threads, waits on the
// PositionWaiter's thread; no I/O thread blocks.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/logging.h"
#include "http/guards.h"
#include "http/position_waiter.h"
#include "http/request.h"
#include "http/server.h"
#include "http/url.h"
#include "http/watch.h"
#include "producer/publisher.h"
#include "schema/codec.h"
#include "view/cached_view.h"
#include "view/replica_status.h"

namespace kvstream::http {

struct ApiSettings {
  std::string topic;  // the events topic (for /v1/status)
  std::string version;
  schema::Limits limits;
  // Read-your-writes and ?wait=applied: the wait when timeout_ms is not
  // given, and the most a client may ask for.
  std::chrono::milliseconds default_wait{5000};
  std::chrono::milliseconds max_wait{30000};
  // A write without ?wait=applied that Kafka has not acknowledged by then
  // (a broker down or unreachable: librdkafka keeps trying for its message
  // timeout, minutes) is answered 504 not_yet_acknowledged; it may still be
  // published.
  std::chrono::milliseconds publish_timeout{10000};
  // Pages of GET /v1/kv.
  size_t list_default_limit = 100;
  size_t list_max_limit = 1000;
  RateLimits rate;
  // Bearer tokens; empty: not required.
  std::string read_token;
  std::string write_token;
  // The circuit breaker on database reads: it opens after this many
  // consecutive failures, for this long (then one trial read passes).
  size_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{2000};
};

// Everything the API reads from or writes to; owned by the service.
struct ApiContext {
  view::CachedView& view;  // keys (cache, then database), listings
  const view::ReplicaStatus& status;
  boost::asio::thread_pool& db_executor;  // listings; writes while the queue is full
  PositionWaiter& waiter;
  producer::Publisher* writer = nullptr;  // null: PUT and DELETE answer 503
  std::function<std::string()> metrics;   // Prometheus text for /metrics
  // Called once per answered request, on the answering thread: route
  // template, status, seconds. Should not block.
  std::function<void(std::string_view, unsigned, double)> observe;
  // GET /v1/watch (consumer/watch/); empty: 503 watch_unavailable.
  WatchOpener watch;
};

class Api {
 public:
  Api(ApiSettings settings, ApiContext context);

  void handle(Request&& req, const std::string& peer, Responder respond);

  // The circuit breaker on database reads, now (for /metrics).
  CircuitBreaker::State read_breaker() const { return breaker_.state(Clock::now()); }

 private:
  // The answer to one request: adds what every answer carries (its request
  // id; a HEAD answer loses its body), observes and logs it, and hands it to
  // the server. Move-only; call it exactly once.
  class Reply {
   public:
    Reply(Api& api, Responder respond, LogFields fields, const std::string& route, bool head,
          std::string method, std::string path, std::string peer, Clock::time_point started);
    Reply(Reply&&) = default;
    Reply& operator=(Reply&&) = default;

    void operator()(Response res);
    // The answer is a stream (GET /v1/watch): its header, then its events.
    std::shared_ptr<EventStream> stream(Response header);
    // The request id and trace id, for log lines about this request.
    const LogFields& fields() const { return fields_; }

   private:
    Api* api_;
    Responder respond_;
    LogFields fields_;
    const std::string* route_;  // a route template of api_routes(), or kNoRoute
    bool head_;
    std::string method_, path_;
    std::string peer_;
    Clock::time_point started_;
  };

  // What a read asks for, once its parameters are checked.
  struct Read {
    bool list = false;
    std::string key, if_none_match;  // GET /v1/kv/{key}
    std::string prefix, after;       // GET /v1/kv
    size_t limit = 0;
  };

  // parse (target, route, method) -> probes -> guard -> the route's handler.
  void route(Request&& req, const RouteSpec* spec, const std::string& peer, Reply reply);
  // Bearer token and rate limit: the refusal, or nullopt to go on.
  std::optional<Response> guard(const Request& req, const std::string& peer);

  // Parameters of the routes: each returns the 400 answer when its
  // parameter is malformed, else sets its output and returns nullopt.
  std::optional<Response> parse_wait(const Target& target, unsigned version,
                                     std::chrono::milliseconds& wait) const;
  std::optional<Response> parse_key(const Target& target, unsigned version, std::string& key) const;
  std::optional<Response> parse_min_positions(const Request& req, const Target& target,
                                              std::vector<Position>& positions) const;
  std::optional<Response> parse_listing(const Target& target, unsigned version, Read& read) const;

  // The handlers: /v1/kv/{key} (GET, HEAD, PUT, DELETE), /v1/kv and
  // /v1/watch.
  void handle_key(Request&& req, const Target& target, Reply reply);
  void handle_list(const Request& req, const Target& target, Reply reply);
  void handle_watch(const Request& req, const Target& target, Reply reply);
  // The prefix parameter (and after): UTF-8 without NUL, at most a key long.
  std::optional<Response> check_prefix(const std::string& text, unsigned version) const;
  Response readyz_response(unsigned version) const;
  Response metrics_response(unsigned version) const;
  Response status_response(unsigned version) const;

  // Reads once `positions` are applied (at once if empty), or answers 504.
  void read_when_applied(unsigned version, std::vector<Position> positions,
                         std::chrono::milliseconds wait, Read read, Reply reply);
  void read(unsigned version, Read read, Reply reply);
  void get_key(unsigned version, std::string key, std::string if_none_match, Reply reply);
  void list(unsigned version, std::string prefix, std::string after, size_t limit, Reply reply);
  void write(Request&& req, std::string key, bool wait_applied, std::chrono::milliseconds wait,
             Reply reply);

  static const std::string kNoRoute;

  const ApiSettings settings_;
  ApiContext ctx_;
  RateLimiter rate_;
  CircuitBreaker breaker_;
};

}  // namespace kvstream::http
