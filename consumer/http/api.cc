#include "http/api.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "common/error.h"
#include "common/logging.h"
#include "http/request.h"
#include "http/url.h"
#include "source/partitioner.h"

namespace kvstream::http {

namespace {

using nlohmann::json;
using status = beast_http::status;
using verb = beast_http::verb;

const char* const kRouteKey = "/v1/kv/{key}";
const char* const kRouteStatus = "/v1/status";
const char* const kRouteHealthz = "/healthz";
const char* const kRouteReadyz = "/readyz";
const char* const kRouteMetrics = "/metrics";
const char* const kRouteNone = "(none)";

Response json_ok(unsigned version, const json& body, status code = status::ok) {
  Response res{code, version};
  res.set(beast_http::field::content_type, "application/json");
  res.body() = body.dump();
  return res;
}

Response error(status code, const std::string& name, const std::string& message, unsigned version) {
  return json_error(code, name, message, version);
}

Response method_not_allowed(unsigned version, const std::string& allow) {
  Response res =
      error(status::method_not_allowed, "method_not_allowed", "allowed methods: " + allow, version);
  res.set(beast_http::field::allow, allow);
  return res;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string new_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Response value_response(unsigned version, const cache::CachedRow& row, const char* cache_state,
                        bool degraded, const std::string& if_none_match) {
  Response res;
  if (!row.value) {
    res = error(status::not_found, "not_found", "no value for this key", version);
  } else {
    const std::string position = to_string(Position{row.partition, row.offset});
    const std::string etag = "\"" + position + "\"";
    if (!if_none_match.empty() && etag_matches(if_none_match, etag)) {
      res = Response{status::not_modified, version};
    } else {
      res = Response{status::ok, version};
      res.set(beast_http::field::content_type,
              row.content_type.empty() ? "application/octet-stream" : row.content_type);
      res.body() = *row.value;
    }
    res.set(beast_http::field::etag, etag);
    res.set("X-KV-Position", position);
  }
  res.set("X-KV-Cache", cache_state);
  if (degraded) res.set("X-KV-Degraded", "database-unavailable");
  return res;
}

Response database_unavailable(unsigned version, bool breaker_open) {
  Response res =
      error(status::service_unavailable, "database_unavailable",
            breaker_open ? "the database failed repeatedly; failing fast until it answers again"
                         : "the database could not be read; retry shortly",
            version);
  res.set(beast_http::field::retry_after, "1");
  return res;
}

}  // namespace

Api::Api(ApiSettings settings, ApiContext context)
    : settings_(std::move(settings)),
      ctx_(std::move(context)),
      rate_(settings_.rate),
      breaker_(settings_.breaker_failures, settings_.breaker_open) {}

void Api::handle(Request&& req, const std::string& peer, Responder respond) {
  const auto started = Clock::now();
  std::string id(req["X-Request-ID"]);
  if (!sane_request_id(id)) id = new_request_id();
  // Log lines about this request carry its id and, when it came with W3C
  // trace context, its trace id (an invalid traceparent is ignored).
  const auto traceparent = req["traceparent"];
  const LogFields fields = LogFields::request(
      id, std::string(schema::trace_id_of({traceparent.data(), traceparent.size()})));
  LogScope request_scope(fields);
  const std::string path(req.target().substr(0, req.target().find('?')));
  const RouteSpec* matched = match_route(path);
  const std::string route_name = matched != nullptr ? matched->path : kRouteNone;
  const bool head = req.method() == verb::head;
  const std::string method(req.method_string());
  Responder wrapped = [this, id, fields, route_name, head, method, path, peer, started,
                       respond = std::move(respond)](Response res) {
    LogScope scope(fields);
    res.set("X-Request-ID", id);
    if (head && !res.body().empty()) {
      // HEAD: the headers of the GET, with the length of the body it omits.
      res.content_length(res.body().size());
      res.body().clear();
    }
    const unsigned code = res.result_int();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (ctx_.observe) ctx_.observe(route_name, code, seconds);
    // Server errors of the API are worth a line; probes answering 503
    // (starting, database down) are not: the replica logs why itself.
    const bool probe = route_name == kRouteReadyz || route_name == kRouteHealthz;
    if (code >= 500 && !probe) {
      spdlog::info("HTTP {} {} -> {} in {:.1f} ms (client {})", method, path, code, seconds * 1000,
                   peer);
    } else {
      spdlog::debug("HTTP {} {} -> {} in {:.1f} ms (client {})", method, path, code, seconds * 1000,
                    peer);
    }
    respond(std::move(res));
  };
  route(std::move(req), route_name, peer, std::move(wrapped));
}

void Api::route(Request&& req, const std::string& route, const std::string& peer,
                Responder respond) {
  const unsigned version = req.version();
  auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) {
    return respond(error(status::bad_request, "bad_query",
                         "malformed percent-encoding in the query", version));
  }
  if (route == kRouteNone) {
    return respond(error(status::not_found, "no_route", "no route for " + target->path, version));
  }
  const RouteSpec& spec = *match_route(target->path);
  const std::string method(req.method_string());
  if (std::find(spec.methods.begin(), spec.methods.end(), method) == spec.methods.end()) {
    return respond(method_not_allowed(version, join(spec.methods)));
  }

  // Probes and metrics: always open, never limited.
  if (route == kRouteHealthz) return respond(json_ok(version, {{"status", "ok"}}));
  if (route == kRouteReadyz) {
    if (auto reason = ctx_.view.not_ready_reason()) {
      return respond(error(status::service_unavailable, "not_ready", *reason, version));
    }
    return respond(json_ok(version, {{"status", "ready"}}));
  }
  if (route == kRouteMetrics) {
    Response res{status::ok, version};
    res.set(beast_http::field::content_type, "text/plain; version=0.0.4");
    res.body() = ctx_.metrics ? ctx_.metrics() : std::string();
    return respond(std::move(res));
  }

  const bool writing = req.method() == verb::put || req.method() == verb::delete_;
  const std::string& token = writing ? settings_.write_token : settings_.read_token;
  if (!token.empty()) {
    const auto auth_header = req[beast_http::field::authorization];
    const std::string_view auth(auth_header.data(), auth_header.size());
    constexpr std::string_view kBearer = "Bearer ";
    const bool ok = auth.size() > kBearer.size() && auth.substr(0, kBearer.size()) == kBearer &&
                    secrets_equal(auth.substr(kBearer.size()), token);
    if (!ok) {
      Response res = error(status::unauthorized, "unauthorized",
                           writing ? "this write needs a valid bearer token"
                                   : "this read needs a valid bearer token",
                           version);
      res.set(beast_http::field::www_authenticate, "Bearer realm=\"kvstream\"");
      return respond(std::move(res));
    }
  }
  if (auto wait = rate_.admit(peer, Clock::now())) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(*wait).count();
    Response res =
        error(status::too_many_requests, "rate_limited",
              "too many requests; retry after " + std::to_string(seconds) + " s", version);
    res.set(beast_http::field::retry_after, std::to_string(std::max<int64_t>(1, seconds)));
    return respond(std::move(res));
  }

  if (route == kRouteStatus) return respond(status_response(version));

  // The wait of read-your-writes and of ?wait=applied.
  std::chrono::milliseconds wait = settings_.default_wait;
  if (auto it = target->query.find("timeout_ms"); it != target->query.end()) {
    auto ms = parse_count(it->second);
    if (!ms) {
      return respond(error(status::bad_request, "bad_timeout",
                           "timeout_ms must be a non-negative integer of milliseconds", version));
    }
    wait = std::min<std::chrono::milliseconds>(
        settings_.max_wait, std::chrono::milliseconds(std::min<uint64_t>(*ms, uint64_t{1} << 40)));
  }

  std::string key;
  if (route == kRouteKey) {
    auto decoded = percent_decode(std::string_view(target->path).substr(kKeyRoutePrefix.size()));
    if (!decoded) {
      return respond(
          error(status::bad_request, "bad_key", "malformed percent-encoding in the key", version));
    }
    if (auto invalid = schema::validate_key(*decoded, settings_.limits)) {
      return respond(error(status::bad_request, schema::reason_code(invalid->reason),
                           invalid->message, version));
    }
    key = std::move(*decoded);
  }

  if (writing) {
    bool wait_applied = false;
    if (auto it = target->query.find("wait"); it != target->query.end()) {
      if (it->second != "applied") {
        return respond(
            error(status::bad_request, "bad_wait", "wait must be 'applied' (or absent)", version));
      }
      wait_applied = true;
    }
    return write(std::move(req), std::move(key), wait_applied, wait, std::move(respond));
  }

  // A read: its minimum positions, if any.
  std::string min_position;
  if (auto it = target->query.find("min_position"); it != target->query.end()) {
    min_position = it->second;
  } else {
    min_position = std::string(req["X-KV-Min-Position"]);
  }
  std::vector<Position> positions;
  if (!min_position.empty()) {
    auto parsed = parse_positions(min_position);
    if (!parsed) {
      return respond(error(status::bad_request, "bad_min_position",
                           "min_position must be partition:offset[,partition:offset...]", version));
    }
    const int32_t partitions = ctx_.view.partition_count();
    for (const Position& p : *parsed) {
      if (partitions > 0 && p.partition >= partitions) {
        return respond(error(status::bad_request, "bad_min_position",
                             "partition " + std::to_string(p.partition) +
                                 " does not exist; the topic has " + std::to_string(partitions),
                             version));
      }
    }
    positions = std::move(*parsed);
  }

  std::function<void()> read;
  if (route == kRouteKey) {
    std::string if_none_match(req[beast_http::field::if_none_match]);
    read = [this, version, key = std::move(key), if_none_match = std::move(if_none_match),
            respond]() mutable {
      get_key(version, std::move(key), std::move(if_none_match), std::move(respond));
    };
  } else {
    std::string prefix, after;
    size_t limit = settings_.list_default_limit;
    if (auto it = target->query.find("prefix"); it != target->query.end()) prefix = it->second;
    if (auto it = target->query.find("after"); it != target->query.end()) after = it->second;
    if (auto it = target->query.find("limit"); it != target->query.end()) {
      auto n = parse_count(it->second);
      if (!n || *n == 0) {
        return respond(error(status::bad_request, "bad_limit",
                             "limit must be a positive integer (at most " +
                                 std::to_string(settings_.list_max_limit) + " are returned)",
                             version));
      }
      limit = static_cast<size_t>(std::min<uint64_t>(*n, settings_.list_max_limit));
    }
    for (const std::string* s : {&prefix, &after}) {
      if (s->find('\0') != std::string::npos || !schema::is_valid_utf8(*s) ||
          s->size() > settings_.limits.max_key_bytes) {
        return respond(error(status::bad_request, "bad_query",
                             "prefix and after must be UTF-8 without NUL, at most " +
                                 std::to_string(settings_.limits.max_key_bytes) + " bytes",
                             version));
      }
    }
    read = [this, version, prefix = std::move(prefix), after = std::move(after), limit,
            respond]() mutable {
      list(version, std::move(prefix), std::move(after), limit, std::move(respond));
    };
  }
  if (positions.empty()) return read();
  ctx_.waiter.wait(positions, Clock::now() + wait,
                   [version, positions, read = std::move(read), respond](bool applied) {
                     if (applied) return read();
                     json pending = json::array();
                     for (const Position& p : positions) pending.push_back(to_string(p));
                     Response res{status::gateway_timeout, version};
                     res.set(beast_http::field::content_type, "application/json");
                     res.body() = json{
                         {"error", "not_yet_applied"},
                         {"message",
                          "the requested positions were not applied within the "
                          "wait; retry, or wait longer with timeout_ms"},
                         {"min_position",
                          pending}}.dump();
                     respond(std::move(res));
                   });
}

void Api::get_key(unsigned version, std::string key, std::string if_none_match, Responder respond) {
  const int32_t partition = source::partition_for_key(key, ctx_.view.partition_count());
  const bool cacheable = ctx_.cache != nullptr && partition >= 0;
  if (cacheable) {
    if (auto row = ctx_.cache->lookup(key, partition)) {
      const bool degraded = !ctx_.view.database_ok() || breaker_.open(Clock::now());
      return respond(value_response(version, *row, "hit", degraded, if_none_match));
    }
  }
  if (!breaker_.allow(Clock::now())) return respond(database_unavailable(version, true));
  std::optional<cache::ReadTicket> ticket;
  if (cacheable) ticket = ctx_.cache->begin_read(key, partition);
  boost::asio::post(ctx_.db_executor,
                    [this, version, partition, ticket, key = std::move(key),
                     if_none_match = std::move(if_none_match), respond = std::move(respond),
                     fields = current_log_fields()]() {
                      LogScope scope(fields);
                      std::optional<store::StoredRow> stored;
                      try {
                        stored = ctx_.reads.get(key);
                        breaker_.success();
                      } catch (const Error& e) {
                        breaker_.failure(Clock::now());
                        spdlog::warn("read of a key failed: {}", e.what());
                        return respond(database_unavailable(version, false));
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
                      Response res = value_response(version, row, "miss", false, if_none_match);
                      if (ticket && row.partition == partition)
                        ctx_.cache->fill(*ticket, key, std::move(row));
                      respond(std::move(res));
                    });
}

void Api::list(unsigned version, std::string prefix, std::string after, size_t limit,
               Responder respond) {
  if (!breaker_.allow(Clock::now())) return respond(database_unavailable(version, true));
  boost::asio::post(
      ctx_.db_executor, [this, version, prefix = std::move(prefix), after = std::move(after), limit,
                         respond = std::move(respond), fields = current_log_fields()]() {
        LogScope scope(fields);
        std::vector<store::ListedRow> rows;
        try {
          // One more than asked: whether there is a next page.
          rows = ctx_.reads.list(prefix, after, limit + 1);
          breaker_.success();
        } catch (const Error& e) {
          breaker_.failure(Clock::now());
          spdlog::warn("listing keys failed: {}", e.what());
          return respond(database_unavailable(version, false));
        }
        const bool more = rows.size() > limit;
        if (more) rows.resize(limit);
        json items = json::array();
        for (auto& r : rows) {
          json item = {{"key", r.key},
                       {"content_type",
                        r.content_type.empty() ? "application/octet-stream" : r.content_type},
                       {"position", to_string(r.position)},
                       {"updated_at", r.updated_at}};
          if (schema::is_valid_utf8(r.value)) {
            item["value"] = std::move(r.value);
            item["value_encoding"] = "utf-8";
          } else {
            item["value"] = base64(r.value);
            item["value_encoding"] = "base64";
          }
          items.push_back(std::move(item));
        }
        json body = {{"items", std::move(items)}};
        body["next_after"] = more ? json(rows.back().key) : json(nullptr);
        respond(json_ok(version, body));
      });
}

void Api::write(Request&& req, std::string key, bool wait_applied, std::chrono::milliseconds wait,
                Responder respond) {
  const unsigned version = req.version();
  if (ctx_.writer == nullptr) {
    return respond(error(status::service_unavailable, "writes_unavailable",
                         "this replica does not publish writes", version));
  }
  const bool put = req.method() == verb::put;
  schema::EncodeOptions options;
  if (put) options.content_type = std::string(req[beast_http::field::content_type]);
  // The request's trace context goes with the event, so that the replica
  // applying it logs the same trace id.
  if (!current_log_fields().trace_id.empty()) options.traceparent = std::string(req["traceparent"]);
  std::string value = put ? std::move(req.body()) : std::string();
  const auto deadline = Clock::now() + wait;
  // Publishing may block while librdkafka's queue is full: not on an I/O
  // thread.
  boost::asio::post(
      ctx_.db_executor,
      [this, version, put, wait_applied, deadline, key = std::move(key), value = std::move(value),
       options = std::move(options), respond, fields = current_log_fields()]() {
        LogScope publish_scope(fields);
        auto delivered = [this, version, put, wait_applied, deadline, respond,
                          fields](const producer::Delivery& d) {
          LogScope scope(fields);
          if (!d.ok()) {
            spdlog::warn("publishing a {} failed: {}", put ? "PUT" : "DELETE", *d.error);
            Response res = error(status::service_unavailable, "publish_failed",
                                 "Kafka did not take the event: " + *d.error, version);
            res.set(beast_http::field::retry_after, "1");
            return respond(std::move(res));
          }
          const std::string position = to_string(d.position);
          auto answer = [version, position](status code, const char* state) {
            Response res = json_ok(version, {{"position", position}, {"status", state}}, code);
            res.set("X-KV-Position", position);
            return res;
          };
          if (!wait_applied) return respond(answer(status::accepted, "accepted"));
          ctx_.waiter.wait({d.position}, deadline, [=](bool applied) {
            if (applied) return respond(answer(put ? status::created : status::ok, "applied"));
            Response res{status::gateway_timeout, version};
            res.set(beast_http::field::content_type, "application/json");
            res.set("X-KV-Position", position);
            res.body() = json{
                {"error", "not_yet_applied"},
                {"message", "the event was published at " + position +
                                " but not applied within the wait; read with min_position to "
                                "see it"},
                {"position",
                 position}}.dump();
            respond(std::move(res));
          });
        };
        std::optional<schema::ValidationError> invalid;
        try {
          invalid = put ? ctx_.writer->put(key, value, options, delivered)
                        : ctx_.writer->del(key, options, delivered);
        } catch (const Error& e) {
          spdlog::warn("publishing failed: {}", e.what());
          Response res = error(status::service_unavailable, "publish_failed",
                               std::string("the event could not be queued: ") + e.what(), version);
          res.set(beast_http::field::retry_after, "1");
          return respond(std::move(res));
        }
        if (invalid) {
          const bool too_large = invalid->reason == schema::Reason::kValueTooLarge;
          respond(error(too_large ? status::payload_too_large : status::bad_request,
                        schema::reason_code(invalid->reason), invalid->message, version));
        }
      });
}

Response Api::status_response(unsigned version) const {
  const auto applied = ctx_.view.applied();
  const auto ends = ctx_.view.end_offsets();
  json partitions = json::array();
  for (const auto& [p, next] : applied) {
    json entry = {{"partition", p}, {"next_offset", next}};
    if (auto it = ends.find(p); it != ends.end() && it->second >= 0) {
      entry["end_offset"] = it->second;
      entry["lag"] = std::max<int64_t>(0, it->second - std::max<int64_t>(0, next));
    } else {
      entry["end_offset"] = nullptr;
      entry["lag"] = nullptr;
    }
    partitions.push_back(std::move(entry));
  }
  json body = {{"version", settings_.version},
               {"topic", settings_.topic},
               {"group_joined", ctx_.view.joined()},
               {"database_ok", ctx_.view.database_ok()},
               {"partition_count", ctx_.view.partition_count()},
               {"partitions", std::move(partitions)}};
  if (ctx_.cache) {
    const auto s = ctx_.cache->stats();
    body["cache"] = {{"entries", s.entries},
                     {"bytes", s.bytes},
                     {"hits", s.hits},
                     {"misses", s.misses},
                     {"evictions", s.evictions}};
  } else {
    body["cache"] = nullptr;
  }
  return json_ok(version, body);
}

}  // namespace kvstream::http
