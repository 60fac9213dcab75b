// The kvstream HTTP API over the materialized view (see docs in
// consumer/README.md):
//
//   GET|HEAD /v1/kv/{key}   200 raw value (stored content type, ETag,
//                           X-KV-Position: partition:offset); 404 if missing
//                           or deleted; 400 for a key that breaks the contract.
//                           Served from the view cache when it holds the key
//                           (X-KV-Cache: hit), else from Postgres (miss); while
//                           Postgres is down, hits still answer, marked
//                           X-KV-Degraded: database-unavailable, and misses
//                           answer 503
//   GET /healthz            200 while the process serves
//   GET /readyz             200 when ready; 503 with the reason otherwise
//   GET /metrics            Prometheus text exposition
//
// Errors are JSON: {"error":"<stable code>","message":"<human text>"}.
//
// Thread-safe. Database reads run on `db_executor` threads, never on the I/O
// threads.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <string>

#include "apply/applied_view.h"
#include "cache/view_cache.h"
#include "http/server.h"
#include "schema/codec.h"
#include "store/pg_reader.h"

namespace kvstream::http {

class Api {
 public:
  // `metrics` renders the Prometheus text for GET /metrics.
  // `cache` may be null (no caching).
  Api(store::PgReadPool& reads, const apply::AppliedView& view,
      boost::asio::thread_pool& db_executor, schema::Limits limits,
      std::function<std::string()> metrics, cache::ViewCache* cache = nullptr);

  void handle(Request&& req, Responder respond);

 private:
  void get_key(Request&& req, std::string key, Responder respond);

  store::PgReadPool& reads_;
  const apply::AppliedView& view_;
  boost::asio::thread_pool& db_executor_;
  const schema::Limits limits_;
  const std::function<std::string()> metrics_;
  cache::ViewCache* const cache_;
};

}  // namespace kvstream::http
