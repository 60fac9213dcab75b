#include "http/api.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "http/url.h"
#include "source/partitioner.h"

namespace kvstream::http {

namespace {

constexpr std::string_view kKvPrefix = "/v1/kv/";

Response json_ok(unsigned version, const nlohmann::json& body,
                 beast_http::status status = beast_http::status::ok) {
  Response res{status, version};
  res.set(beast_http::field::content_type, "application/json");
  res.body() = body.dump();
  return res;
}

Response method_not_allowed(unsigned version, const char* allow) {
  Response res = json_error(beast_http::status::method_not_allowed, "method_not_allowed",
                            std::string("allowed methods: ") + allow, version);
  res.set(beast_http::field::allow, allow);
  return res;
}

bool is_read(beast_http::verb v) {
  return v == beast_http::verb::get || v == beast_http::verb::head;
}

}  // namespace

Api::Api(store::PgReadPool& reads, const apply::AppliedView& view,
         boost::asio::thread_pool& db_executor, schema::Limits limits,
         std::function<std::string()> metrics, cache::ViewCache* cache)
    : reads_(reads),
      view_(view),
      db_executor_(db_executor),
      limits_(limits),
      metrics_(std::move(metrics)),
      cache_(cache) {}

void Api::handle(Request&& req, Responder respond) {
  const unsigned version = req.version();
  auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) {
    return respond(json_error(beast_http::status::bad_request, "bad_query",
                              "malformed percent-encoding in the query", version));
  }
  const std::string& path = target->path;

  if (path == "/healthz") {
    if (!is_read(req.method())) return respond(method_not_allowed(version, "GET, HEAD"));
    return respond(json_ok(version, {{"status", "ok"}}));
  }
  if (path == "/readyz") {
    if (!is_read(req.method())) return respond(method_not_allowed(version, "GET, HEAD"));
    if (auto reason = view_.not_ready_reason()) {
      return respond(
          json_error(beast_http::status::service_unavailable, "not_ready", *reason, version));
    }
    return respond(json_ok(version, {{"status", "ready"}}));
  }
  if (path == "/metrics") {
    if (!is_read(req.method())) return respond(method_not_allowed(version, "GET, HEAD"));
    Response res{beast_http::status::ok, version};
    res.set(beast_http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics_ ? metrics_() : std::string();
    return respond(std::move(res));
  }
  if (path.compare(0, kKvPrefix.size(), kKvPrefix) == 0) {
    if (!is_read(req.method())) return respond(method_not_allowed(version, "GET, HEAD"));
    auto key = percent_decode(std::string_view(path).substr(kKvPrefix.size()));
    if (!key) {
      return respond(json_error(beast_http::status::bad_request, "bad_key",
                                "malformed percent-encoding in the key", version));
    }
    if (auto invalid = schema::validate_key(*key, limits_)) {
      return respond(json_error(beast_http::status::bad_request,
                                schema::reason_code(invalid->reason), invalid->message, version));
    }
    return get_key(std::move(req), std::move(*key), std::move(respond));
  }
  respond(json_error(beast_http::status::not_found, "no_route", "no route for " + path, version));
}

namespace {

Response value_response(unsigned version, bool head, const cache::CachedRow& row,
                        const char* cache_state, bool degraded) {
  if (!row.value) {
    Response res =
        json_error(beast_http::status::not_found, "not_found", "no value for this key", version);
    res.set("X-KV-Cache", cache_state);
    if (degraded) res.set("X-KV-Degraded", "database-unavailable");
    return res;
  }
  Response res{beast_http::status::ok, version};
  const std::string position = to_string(Position{row.partition, row.offset});
  res.set(beast_http::field::content_type,
          row.content_type.empty() ? "application/octet-stream" : row.content_type);
  res.set(beast_http::field::etag, "\"" + position + "\"");
  res.set("X-KV-Position", position);
  res.set("X-KV-Cache", cache_state);
  if (degraded) res.set("X-KV-Degraded", "database-unavailable");
  if (head) {
    res.content_length(row.value->size());
  } else {
    res.body() = *row.value;
  }
  return res;
}

}  // namespace

void Api::get_key(Request&& req, std::string key, Responder respond) {
  const unsigned version = req.version();
  const bool head = req.method() == beast_http::verb::head;
  const int32_t partition = source::partition_for_key(key, view_.partition_count());
  const bool cacheable = cache_ != nullptr && partition >= 0;
  if (cacheable) {
    if (auto row = cache_->lookup(key, partition)) {
      return respond(value_response(version, head, *row, "hit", !view_.database_ok()));
    }
  }
  std::optional<cache::ReadTicket> ticket;
  if (cacheable) ticket = cache_->begin_read(key, partition);
  boost::asio::post(db_executor_, [this, version, head, partition, ticket, key = std::move(key),
                                   respond = std::move(respond)]() {
    std::optional<store::StoredRow> stored;
    try {
      stored = reads_.get(key);
    } catch (const Error& e) {
      spdlog::warn("read of a key failed: {}", e.what());
      return respond(json_error(beast_http::status::service_unavailable, "database_unavailable",
                                "the database could not be read; retry shortly", version));
    }
    cache::CachedRow row;
    if (stored) {
      row.value = std::move(stored->value);
      row.content_type = std::move(stored->content_type);
      row.partition = stored->position.partition;
      row.offset = stored->position.offset;
    } else {
      row.partition = partition;
      row.offset = cache::kAbsentOffset;
    }
    Response res = value_response(version, head, row, "miss", false);
    if (ticket && row.partition == partition) cache_->fill(*ticket, key, std::move(row));
    respond(std::move(res));
  });
}

}  // namespace kvstream::http
