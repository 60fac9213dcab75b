// The kvstream HTTP API over the materialized view. The routes, their
// parameters and every answer are in docs/openapi.yaml; in short:
//
//   GET|HEAD /v1/kv/{key}     the value (stored content type, ETag,
//                             X-KV-Position); 304 on If-None-Match; 404 if
//                             missing or deleted. From the view cache when it
//                             holds the key (X-KV-Cache: hit), else Postgres.
//   GET|HEAD /v1/kv           a page of live keys: ?prefix=&limit=&after=
//   PUT|DELETE /v1/kv/{key}   publish the event to Kafka: 202 with its
//                             position; with ?wait=applied, 201 / 200 once
//                             applied
//   GET|HEAD /v1/status       partitions, applied positions, lag, cache
//   GET|HEAD /healthz         the process serves
//   GET|HEAD /readyz          Postgres reachable and group joined, else 503
//   GET|HEAD /metrics         Prometheus text
//
// Read-your-writes: reads take `min_position=p:o[,p:o...]` (query) or
// `X-KV-Min-Position` (header) and `timeout_ms`; they answer once those
// positions are applied by whichever replica owns them, or 504
// `not_yet_applied` when the wait ends first.
//
// Every answer carries X-Request-ID (the client's, when it sent a sane one,
// else a new one). Errors are JSON: {"error":"<stable code>","message":"..."}.
// Optional bearer tokens protect reads and writes separately (probes and
// /metrics stay open); optional token-bucket rate limits answer 429 with
// Retry-After; database reads go through a circuit breaker that answers 503
// at once after repeated failures, until the database answers again.
//
// Thread-safe. Database reads and publishing run on `db_executor` threads,
// waits on the PositionWaiter's thread; no I/O thread blocks.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "apply/applied_view.h"
#include "cache/view_cache.h"
#include "http/guards.h"
#include "http/position_waiter.h"
#include "http/request.h"
#include "http/server.h"
#include "producer/producer.h"
#include "schema/codec.h"
#include "store/pg_reader.h"

namespace kvstream::http {

struct ApiSettings {
  std::string topic;  // the events topic (for /v1/status)
  std::string version;
  schema::Limits limits;
  // Read-your-writes and ?wait=applied: the wait when timeout_ms is not
  // given, and the most a client may ask for.
  std::chrono::milliseconds default_wait{5000};
  std::chrono::milliseconds max_wait{30000};
  // Pages of GET /v1/kv.
  size_t list_default_limit = 100;
  size_t list_max_limit = 1000;
  RateLimits rate;
  // Bearer tokens; empty: not required.
  std::string read_token;
  std::string write_token;
  // The circuit breaker on database reads.
  size_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{2000};
};

// Everything the API reads from or writes to; owned by the service.
struct ApiContext {
  store::PgReadPool& reads;
  const apply::AppliedView& view;
  boost::asio::thread_pool& db_executor;
  PositionWaiter& waiter;
  cache::ViewCache* cache = nullptr;     // null: no caching
  producer::Producer* writer = nullptr;  // null: PUT and DELETE answer 503
  std::function<std::string()> metrics;  // Prometheus text for /metrics
  // Called once per answered request: route template, status, seconds.
  std::function<void(const std::string&, unsigned, double)> observe;
};

class Api {
 public:
  Api(ApiSettings settings, ApiContext context);

  void handle(Request&& req, const std::string& peer, Responder respond);

 private:
  // `respond` of the handlers below already adds the request id, observes
  // and logs.
  void route(Request&& req, const std::string& route, const std::string& peer, Responder respond);
  void get_key(unsigned version, std::string key, std::string if_none_match, Responder respond);
  void list(unsigned version, std::string prefix, std::string after, size_t limit,
            Responder respond);
  void write(Request&& req, std::string key, bool wait_applied, std::chrono::milliseconds wait,
             Responder respond);
  Response status_response(unsigned version) const;

  const ApiSettings settings_;
  ApiContext ctx_;
  RateLimiter rate_;
  CircuitBreaker breaker_;
};

}  // namespace kvstream::http
