#include "http/api.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <utility>

#include "common/error.h"
#include "common/logging.h"
#include "http/request.h"
#include "http/url.h"

namespace kvstream::http {

namespace {

using nlohmann::json;
using status = beast_http::status;
using verb = beast_http::verb;

const char* const kRouteKey = "/v1/kv/{key}";
const char* const kRouteStatus = "/v1/status";
const char* const kRouteWatch = "/v1/watch";
const char* const kRouteHealthz = "/healthz";
const char* const kRouteReadyz = "/readyz";
const char* const kRouteMetrics = "/metrics";

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
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (size_t half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (size_t i = 0; i < 16; ++i, bits >>= 4) out[half * 16 + 15 - i] = kHex[bits & 15];
  }
  return out;
}

// "partition:offset" into `out` (at least kPositionChars); returns its length.
constexpr size_t kPositionChars = 48;
size_t format_position(const view::Row& row, char* out) {
  char* end = out + kPositionChars;
  char* p = std::to_chars(out, end, row.partition).ptr;
  *p++ = ':';
  p = std::to_chars(p, end, row.offset).ptr;
  return static_cast<size_t>(p - out);
}

Response value_response(unsigned version, const view::Row& row, const char* cache_state,
                        bool degraded, const std::string& if_none_match) {
  Response res;
  if (!row.value) {
    res = error(status::not_found, "not_found", "no value for this key", version);
  } else {
    // The ETag is the position in quotes.
    char etag_chars[kPositionChars + 2];
    etag_chars[0] = '"';
    const size_t n = format_position(row, etag_chars + 1);
    etag_chars[n + 1] = '"';
    const boost::beast::string_view etag(etag_chars, n + 2);
    const boost::beast::string_view position(etag_chars + 1, n);
    if (!if_none_match.empty() && etag_matches(if_none_match, {etag.data(), etag.size()})) {
      res = Response{status::not_modified, version};
    } else {
      res = Response{status::ok, version};
      res.set(beast_http::field::content_type,
              row.content_type.empty() ? boost::beast::string_view("application/octet-stream")
                                       : boost::beast::string_view(row.content_type));
      res.body() = *row.value;
    }
    res.set(beast_http::field::etag, etag);
    res.set("X-KV-Position", position);
  }
  res.set("X-KV-Cache", cache_state);
  if (degraded) res.set("X-KV-Degraded", "database-unavailable");
  return res;
}

// 504 not_yet_applied: the positions a request waited for were not applied
// within its wait. The request was valid and may succeed later (a 5xx, as a
// gateway whose upstream, the apply pipeline, did not deliver in time), so
// the answer says when to try again; docs/openapi.yaml says why not a 200.
Response not_yet_applied(unsigned version, json body) {
  Response res{status::gateway_timeout, version};
  res.set(beast_http::field::content_type, "application/json");
  res.set(beast_http::field::retry_after, "1");
  res.body() = body.dump();
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

const std::string Api::kNoRoute = "(none)";

Api::Api(ApiSettings settings, ApiContext context)
    : settings_(std::move(settings)),
      ctx_(std::move(context)),
      rate_(settings_.rate),
      breaker_(settings_.breaker_failures, settings_.breaker_open) {}

Api::Reply::Reply(Api& api, Responder respond, LogFields fields, const std::string& route,
                  bool head, std::string method, std::string path, std::string peer,
                  Clock::time_point started)
    : api_(&api),
      respond_(std::move(respond)),
      fields_(std::move(fields)),
      route_(&route),
      head_(head),
      method_(std::move(method)),
      path_(std::move(path)),
      peer_(std::move(peer)),
      started_(started) {}

void Api::Reply::operator()(Response res) {
  // Log lines carry the request's fields; on the thread that handles the
  // request they are set already.
  std::optional<LogScope> scope;
  if (current_log_fields().request_id != fields_.request_id) scope.emplace(fields_);
  res.set("X-Request-ID", fields_.request_id);
  if (head_ && !res.body().empty()) {
    // HEAD: the headers of the GET, with the length of the body it omits.
    res.content_length(res.body().size());
    res.body().clear();
  }
  const unsigned code = res.result_int();
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  const std::string& route = *route_;
  if (api_->ctx_.observe) api_->ctx_.observe(route, code, seconds);
  // Server errors of the API are worth a line; probes answering 503
  // (starting, database down) are not: the replica logs why itself.
  const bool probe = route == kRouteReadyz || route == kRouteHealthz;
  if (code >= 500 && !probe) {
    spdlog::info("HTTP {} {} -> {} in {:.1f} ms (client {})", method_, path_, code, seconds * 1000,
                 peer_);
  } else {
    spdlog::debug("HTTP {} {} -> {} in {:.1f} ms (client {})", method_, path_, code, seconds * 1000,
                  peer_);
  }
  // Released once used: an answer given early (a write) must not keep the
  // connection's state alive as long as its other callbacks live.
  Responder respond = std::exchange(respond_, Responder());
  respond(std::move(res));
}

std::shared_ptr<EventStream> Api::Reply::stream(Response header) {
  std::optional<LogScope> scope;
  if (current_log_fields().request_id != fields_.request_id) scope.emplace(fields_);
  header.set("X-Request-ID", fields_.request_id);
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  if (api_->ctx_.observe) api_->ctx_.observe(*route_, header.result_int(), seconds);
  spdlog::debug("HTTP {} {} -> {} stream in {:.1f} ms (client {})", method_, path_,
                header.result_int(), seconds * 1000, peer_);
  Responder respond = std::exchange(respond_, Responder());
  return respond.stream(std::move(header));
}

void Api::handle(Request&& req, const std::string& peer, Responder respond) {
  const auto started = Clock::now();
  LogFields fields;
  const auto client_id = req["X-Request-ID"];
  if (sane_request_id({client_id.data(), client_id.size()})) {
    fields.request_id.assign(client_id.data(), client_id.size());
  } else {
    fields.request_id = new_request_id();
  }
  // Log lines about this request carry its id and, when it came with W3C
  // trace context, its trace id (an invalid traceparent is ignored).
  const auto traceparent = req["traceparent"];
  fields.trace_id = schema::trace_id_of({traceparent.data(), traceparent.size()});
  LogScope request_scope(fields);
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const RouteSpec* spec = match_route(path);
  Reply reply(*this, std::move(respond), std::move(fields), spec != nullptr ? spec->path : kNoRoute,
              req.method() == verb::head, std::string(req.method_string()), std::string(path), peer,
              started);
  route(std::move(req), spec, peer, std::move(reply));
}

void Api::route(Request&& req, const RouteSpec* spec, const std::string& peer, Reply reply) {
  // Parse: the target, its route, the method.
  const unsigned version = req.version();
  auto target = parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) {
    return reply(error(status::bad_request, "bad_query", "malformed percent-encoding in the query",
                       version));
  }
  if (spec == nullptr) {
    return reply(error(status::not_found, "no_route", "no route for " + target->path, version));
  }
  const auto method_string = req.method_string();
  const std::string_view method(method_string.data(), method_string.size());
  if (std::find(spec->methods.begin(), spec->methods.end(), method) == spec->methods.end()) {
    return reply(method_not_allowed(version, join(spec->methods)));
  }

  // Probes and metrics: always open, never limited.
  const std::string& route = spec->path;
  if (route == kRouteHealthz) return reply(json_ok(version, {{"status", "ok"}}));
  if (route == kRouteReadyz) return reply(readyz_response(version));
  if (route == kRouteMetrics) return reply(metrics_response(version));

  // Guard, then the route's handler.
  if (auto refused = guard(req, peer)) return reply(std::move(*refused));
  if (route == kRouteStatus) return reply(status_response(version));
  if (route == kRouteKey) return handle_key(std::move(req), *target, std::move(reply));
  if (route == kRouteWatch) return handle_watch(req, *target, std::move(reply));
  handle_list(req, *target, std::move(reply));
}

std::optional<Response> Api::guard(const Request& req, const std::string& peer) {
  const unsigned version = req.version();
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
      return res;
    }
  }
  if (auto wait = rate_.admit(peer, Clock::now())) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(*wait).count();
    Response res =
        error(status::too_many_requests, "rate_limited",
              "too many requests; retry after " + std::to_string(seconds) + " s", version);
    res.set(beast_http::field::retry_after, std::to_string(std::max<int64_t>(1, seconds)));
    return res;
  }
  return std::nullopt;
}

std::optional<Response> Api::parse_wait(const Target& target, unsigned version,
                                        std::chrono::milliseconds& wait) const {
  wait = settings_.default_wait;
  if (auto it = target.query.find("timeout_ms"); it != target.query.end()) {
    auto ms = parse_count(it->second);
    if (!ms) {
      return error(status::bad_request, "bad_timeout",
                   "timeout_ms must be a non-negative integer of milliseconds", version);
    }
    wait = std::min<std::chrono::milliseconds>(
        settings_.max_wait, std::chrono::milliseconds(std::min<uint64_t>(*ms, uint64_t{1} << 40)));
  }
  return std::nullopt;
}

std::optional<Response> Api::parse_key(const Target& target, unsigned version,
                                       std::string& key) const {
  auto decoded = percent_decode(std::string_view(target.path).substr(kKeyRoutePrefix.size()));
  if (!decoded) {
    return error(status::bad_request, "bad_key", "malformed percent-encoding in the key", version);
  }
  if (auto invalid = schema::validate_key(*decoded, settings_.limits)) {
    return error(status::bad_request, schema::reason_code(invalid->reason), invalid->message,
                 version);
  }
  key = std::move(*decoded);
  return std::nullopt;
}

std::optional<Response> Api::parse_min_positions(const Request& req, const Target& target,
                                                 std::vector<Position>& positions) const {
  const unsigned version = req.version();
  // The query parameter and the header may both be sent: the answer reflects
  // the positions of both, and either one malformed is refused (an empty one
  // asks for nothing).
  const auto header = req["X-KV-Min-Position"];
  const auto query = target.query.find("min_position");
  for (const std::string_view text :
       {std::string_view(header.data(), header.size()),
        query == target.query.end() ? std::string_view() : std::string_view(query->second)}) {
    if (text.empty()) continue;
    auto parsed = parse_positions(text);
    if (!parsed) {
      return error(status::bad_request, "bad_min_position",
                   "min_position must be partition:offset[,partition:offset...]", version);
    }
    const int32_t partitions = ctx_.status.partition_count();
    for (const Position& p : *parsed) {
      if (partitions > 0 && p.partition >= partitions) {
        return error(status::bad_request, "bad_min_position",
                     "partition " + std::to_string(p.partition) +
                         " does not exist; the topic has " + std::to_string(partitions),
                     version);
      }
      positions.push_back(p);
    }
  }
  return std::nullopt;
}

std::optional<Response> Api::parse_listing(const Target& target, unsigned version,
                                           Read& read) const {
  read.list = true;
  read.limit = settings_.list_default_limit;
  if (auto it = target.query.find("prefix"); it != target.query.end()) read.prefix = it->second;
  if (auto it = target.query.find("after"); it != target.query.end()) read.after = it->second;
  if (auto it = target.query.find("limit"); it != target.query.end()) {
    auto n = parse_count(it->second);
    if (!n || *n == 0) {
      return error(status::bad_request, "bad_limit",
                   "limit must be a positive integer (at most " +
                       std::to_string(settings_.list_max_limit) + " are returned)",
                   version);
    }
    read.limit = static_cast<size_t>(std::min<uint64_t>(*n, settings_.list_max_limit));
  }
  for (const std::string* s : {&read.prefix, &read.after}) {
    if (auto bad = check_prefix(*s, version)) return bad;
  }
  return std::nullopt;
}

std::optional<Response> Api::check_prefix(const std::string& text, unsigned version) const {
  if (text.find('\0') != std::string::npos || !schema::is_valid_utf8(text) ||
      text.size() > settings_.limits.max_key_bytes) {
    return error(status::bad_request, "bad_query",
                 "prefix and after must be UTF-8 without NUL, at most " +
                     std::to_string(settings_.limits.max_key_bytes) + " bytes",
                 version);
  }
  return std::nullopt;
}

namespace {

// A watch's answer goes through the API's Reply (request id, logs,
// metrics), whichever way it is given.
template <typename ReplyT>
class WatchReplyOf : public WatchReply {
 public:
  explicit WatchReplyOf(ReplyT reply) : reply_(std::move(reply)) {}
  void answer(Response res) override { reply_(std::move(res)); }
  std::shared_ptr<EventStream> stream(Response header) override {
    return reply_.stream(std::move(header));
  }

 private:
  ReplyT reply_;
};

}  // namespace

void Api::handle_watch(const Request& req, const Target& target, Reply reply) {
  const unsigned version = req.version();
  WatchRequest watch;
  watch.version = version;
  watch.request_id = reply.fields().request_id;
  if (auto it = target.query.find("prefix"); it != target.query.end()) watch.prefix = it->second;
  if (auto bad = check_prefix(watch.prefix, version)) return reply(std::move(*bad));
  if (auto it = target.query.find("values"); it != target.query.end()) {
    if (it->second != "true" && it->second != "false") {
      return reply(
          error(status::bad_request, "bad_values", "values must be true or false", version));
    }
    watch.values = it->second == "true";
  }
  // A reconnecting EventSource sends the last id it received: it wins over
  // the from of the URL it reconnects to.
  const auto last_id = req["Last-Event-ID"];
  std::string_view from(last_id.data(), last_id.size());
  if (from.empty()) {
    if (auto it = target.query.find("from"); it != target.query.end()) from = it->second;
  }
  if (!from.empty() && from != "now") {
    auto parsed = parse_position_vector(from);
    if (!parsed) {
      return reply(error(status::bad_request, "bad_from",
                         "from (and Last-Event-ID) must be now, or partition:offset[,...] with "
                         "offsets from -1 (a listing's positions, or an event's id)",
                         version));
    }
    const int32_t partitions = ctx_.status.partition_count();
    for (const auto& [p, o] : *parsed) {
      if (partitions > 0 && p >= partitions) {
        return reply(error(status::bad_request, "bad_from",
                           "partition " + std::to_string(p) + " does not exist; the topic has " +
                               std::to_string(partitions),
                           version));
      }
    }
    watch.from = std::move(*parsed);
  }
  if (!ctx_.watch) {
    return reply(error(status::service_unavailable, "watch_unavailable",
                       "this replica serves no watches", version));
  }
  ctx_.watch(std::move(watch), std::make_unique<WatchReplyOf<Reply>>(std::move(reply)));
}

void Api::handle_key(Request&& req, const Target& target, Reply reply) {
  const unsigned version = req.version();
  std::chrono::milliseconds wait{};
  if (auto bad = parse_wait(target, version, wait)) return reply(std::move(*bad));
  std::string key;
  if (auto bad = parse_key(target, version, key)) return reply(std::move(*bad));
  if (req.method() == verb::put || req.method() == verb::delete_) {
    bool wait_applied = false;
    if (auto it = target.query.find("wait"); it != target.query.end()) {
      if (it->second != "applied") {
        return reply(
            error(status::bad_request, "bad_wait", "wait must be 'applied' (or absent)", version));
      }
      wait_applied = true;
    }
    return write(std::move(req), std::move(key), wait_applied, wait, std::move(reply));
  }
  std::vector<Position> positions;
  if (auto bad = parse_min_positions(req, target, positions)) return reply(std::move(*bad));
  Read read;
  read.key = std::move(key);
  read.if_none_match = std::string(req[beast_http::field::if_none_match]);
  read_when_applied(version, std::move(positions), wait, std::move(read), std::move(reply));
}

void Api::handle_list(const Request& req, const Target& target, Reply reply) {
  const unsigned version = req.version();
  std::chrono::milliseconds wait{};
  if (auto bad = parse_wait(target, version, wait)) return reply(std::move(*bad));
  std::vector<Position> positions;
  if (auto bad = parse_min_positions(req, target, positions)) return reply(std::move(*bad));
  Read read;
  if (auto bad = parse_listing(target, version, read)) return reply(std::move(*bad));
  read_when_applied(version, std::move(positions), wait, std::move(read), std::move(reply));
}

void Api::read_when_applied(unsigned version, std::vector<Position> positions,
                            std::chrono::milliseconds wait, Read read, Reply reply) {
  if (positions.empty()) return this->read(version, std::move(read), std::move(reply));
  // The waiter's callbacks are copyable: the reply is shared with it.
  auto shared = std::make_shared<std::pair<Read, Reply>>(std::move(read), std::move(reply));
  ctx_.waiter.wait(
      positions, Clock::now() + wait, [this, version, positions, shared](bool applied) {
        if (applied)
          return this->read(version, std::move(shared->first), std::move(shared->second));
        json pending = json::array();
        for (const Position& p : positions) pending.push_back(to_string(p));
        shared->second(not_yet_applied(version, {{"error", "not_yet_applied"},
                                                 {"message",
                                                  "the requested positions were not applied "
                                                  "within the wait; retry, or wait longer with "
                                                  "timeout_ms"},
                                                 {"min_position", std::move(pending)}}));
      });
}

Response Api::readyz_response(unsigned version) const {
  if (auto reason = ctx_.status.not_ready_reason()) {
    return error(status::service_unavailable, "not_ready", *reason, version);
  }
  return json_ok(version, {{"status", "ready"}});
}

Response Api::metrics_response(unsigned version) const {
  Response res{status::ok, version};
  res.set(beast_http::field::content_type, "text/plain; version=0.0.4");
  res.body() = ctx_.metrics ? ctx_.metrics() : std::string();
  return res;
}

void Api::read(unsigned version, Read read, Reply reply) {
  if (read.list) {
    return list(version, std::move(read.prefix), std::move(read.after), read.limit,
                std::move(reply));
  }
  get_key(version, std::move(read.key), std::move(read.if_none_match), std::move(reply));
}

void Api::get_key(unsigned version, std::string key, std::string if_none_match, Reply reply) {
  if (auto row = ctx_.view.cached(key)) {
    const bool degraded = !ctx_.status.database_ok() || breaker_.open(Clock::now());
    return reply(value_response(version, *row, "hit", degraded, if_none_match));
  }
  if (!breaker_.allow(Clock::now())) return reply(database_unavailable(version, true));
  // The view's callback is copyable: the reply is shared with it.
  auto shared = std::make_shared<Reply>(std::move(reply));
  ctx_.view.read(std::move(key), [this, version, if_none_match = std::move(if_none_match), shared](
                                     std::shared_ptr<const view::Row> row, const Error* error) {
    LogScope scope(shared->fields());
    if (error != nullptr) {
      breaker_.failure(Clock::now());
      spdlog::warn("read of a key failed: {}", error->what());
      return (*shared)(database_unavailable(version, false));
    }
    breaker_.success();
    (*shared)(value_response(version, *row, "miss", false, if_none_match));
  });
}

void Api::list(unsigned version, std::string prefix, std::string after, size_t limit, Reply reply) {
  if (!breaker_.allow(Clock::now())) return reply(database_unavailable(version, true));
  boost::asio::post(ctx_.db_executor, [this, version, prefix = std::move(prefix),
                                       after = std::move(after), limit,
                                       reply = std::move(reply)]() mutable {
    LogScope scope(reply.fields());
    view::Listing listing;
    try {
      // One more than asked: whether there is a next page.
      listing = ctx_.view.list(prefix, after, limit + 1);
      breaker_.success();
    } catch (const Error& e) {
      breaker_.failure(Clock::now());
      spdlog::warn("listing keys failed: {}", e.what());
      return reply(database_unavailable(version, false));
    }
    auto& rows = listing.rows;
    const bool more = rows.size() > limit;
    if (more) rows.resize(limit);
    json items = json::array();
    for (auto& r : rows) {
      json item = {
          {"key", r.key},
          {"content_type", r.content_type.empty() ? "application/octet-stream" : r.content_type},
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
    // Where the page is consistent: watching from there misses no change
    // after it (list-then-watch). Every partition of the topic is named.
    const auto count = std::max<int32_t>(
        ctx_.status.partition_count(),
        listing.next_offsets.empty() ? 0 : listing.next_offsets.rbegin()->first + 1);
    std::vector<int64_t> next(static_cast<size_t>(count), 0);
    for (const auto& [p, o] : listing.next_offsets) {
      if (p >= 0 && p < count) next[static_cast<size_t>(p)] = std::max<int64_t>(0, o);
    }
    const std::string positions = format_position_vector(next);
    json body = {{"items", std::move(items)}};
    body["next_after"] = more ? json(rows.back().key) : json(nullptr);
    body["positions"] = positions;
    Response res = json_ok(version, body);
    res.set("X-KV-Positions", positions);
    reply(std::move(res));
  });
}

void Api::write(Request&& req, std::string key, bool wait_applied, std::chrono::milliseconds wait,
                Reply reply) {
  const unsigned version = req.version();
  if (ctx_.writer == nullptr) {
    return reply(error(status::service_unavailable, "writes_unavailable",
                       "this replica does not publish writes", version));
  }
  const bool put = req.method() == verb::put;
  schema::EncodeOptions options;
  if (put) options.content_type = std::string(req[beast_http::field::content_type]);
  // The request's trace context goes with the event, so that the replica
  // applying it logs the same trace id.
  if (!reply.fields().trace_id.empty()) options.traceparent = std::string(req["traceparent"]);
  std::string value = put ? std::move(req.body()) : std::string();
  const auto deadline = Clock::now() + wait;
  // The answer is given once, by what comes first: Kafka's acknowledgement
  // (then, with wait=applied, the apply or the wait's end), a refusal, or
  // the end of the wait (with wait=applied) or of the publish timeout
  // (without) while Kafka has not acknowledged the event (a broker down or
  // slow: librdkafka keeps trying for its message timeout, longer than
  // either). The callbacks are copyable: the reply is shared.
  struct OnceReply {
    explicit OnceReply(Reply r) : reply(std::move(r)) {}
    bool claim() { return !claimed.exchange(true); }  // true for the first caller
    Reply reply;
    std::atomic<bool> claimed{false};
  };
  auto shared = std::make_shared<OnceReply>(std::move(reply));
  LogFields fields = shared->reply.fields();
  const auto unacknowledged_at = wait_applied ? deadline : Clock::now() + settings_.publish_timeout;
  ctx_.waiter.at(unacknowledged_at, [version, put, wait_applied, shared](bool) {
    if (!shared->claim()) return;
    LogScope scope(shared->reply.fields());
    Response res = error(status::gateway_timeout, "not_yet_acknowledged",
                         std::string("Kafka did not acknowledge the ") + (put ? "PUT" : "DELETE") +
                             (wait_applied ? " within the wait" : " within the publish timeout") +
                             "; it may still be published: read the key to see, or send it again",
                         version);
    res.set(beast_http::field::retry_after, "1");
    shared->reply(std::move(res));
  });
  producer::DeliveryCallback delivered = [this, version, put, wait_applied, deadline,
                                          shared](const producer::Delivery& d) {
    LogScope scope(shared->reply.fields());
    if (!shared->claim()) {
      // Its request was answered 504 at the end of its wait.
      if (d.ok()) {
        spdlog::info("a {} answered as not yet acknowledged was published at {}",
                     put ? "PUT" : "DELETE", to_string(d.position));
      } else {
        spdlog::warn("a {} answered as not yet acknowledged was not published: {}",
                     put ? "PUT" : "DELETE", *d.error);
      }
      return;
    }
    if (!d.ok()) {
      spdlog::warn("publishing a {} failed: {}", put ? "PUT" : "DELETE", *d.error);
      Response res = error(status::service_unavailable, "publish_failed",
                           "Kafka did not take the event: " + *d.error, version);
      res.set(beast_http::field::retry_after, "1");
      return shared->reply(std::move(res));
    }
    const std::string position = to_string(d.position);
    auto answer = [version, position](status code, const char* state) {
      Response res = json_ok(version, {{"position", position}, {"status", state}}, code);
      res.set("X-KV-Position", position);
      return res;
    };
    if (!wait_applied) return shared->reply(answer(status::accepted, "accepted"));
    ctx_.waiter.wait({d.position}, deadline, [=](bool applied) {
      if (applied) return shared->reply(answer(put ? status::created : status::ok, "applied"));
      Response res =
          not_yet_applied(version, {{"error", "not_yet_applied"},
                                    {"message", "the event was published at " + position +
                                                    " but not applied within the wait; read with "
                                                    "min_position to see it"},
                                    {"position", position}});
      res.set("X-KV-Position", position);
      shared->reply(std::move(res));
    });
  };
  // Hands the event to librdkafka; false when its queue is full and
  // `when_full` says not to wait. Every other outcome is answered.
  auto publish = [this, version, put, key = std::move(key), value = std::move(value),
                  options = std::move(options), delivered, shared](producer::WhenFull when_full) {
    std::optional<schema::ValidationError> invalid;
    try {
      invalid = put ? ctx_.writer->put(key, value, options, delivered, when_full)
                    : ctx_.writer->del(key, options, delivered, when_full);
    } catch (const Error& e) {
      if (e.retryable() && when_full == producer::WhenFull::kRefuse) return false;
      spdlog::warn("publishing failed: {}", e.what());
      Response res = error(status::service_unavailable, "publish_failed",
                           std::string("the event could not be queued: ") + e.what(), version);
      res.set(beast_http::field::retry_after, "1");
      if (shared->claim()) shared->reply(std::move(res));
      return true;
    }
    if (invalid && shared->claim()) {
      const bool too_large = invalid->reason == schema::Reason::kValueTooLarge;
      shared->reply(error(too_large ? status::payload_too_large : status::bad_request,
                          schema::reason_code(invalid->reason), invalid->message, version));
    }
    return true;
  };
  // Queued at once on this thread when librdkafka has room (it then never
  // blocks); a full queue is waited for on a db_executor thread, not here.
  if (publish(producer::WhenFull::kRefuse)) return;
  boost::asio::post(ctx_.db_executor, [publish = std::move(publish), fields]() mutable {
    LogScope scope(fields);
    publish(producer::WhenFull::kWait);
  });
}

Response Api::status_response(unsigned version) const {
  const auto applied = ctx_.status.applied();
  const auto ends = ctx_.status.end_offsets();
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
               {"group_joined", ctx_.status.joined()},
               {"database_ok", ctx_.status.database_ok()},
               {"partition_count", ctx_.status.partition_count()},
               {"partitions", std::move(partitions)}};
  if (const auto s = ctx_.view.cache_stats()) {
    body["cache"] = {{"entries", s->entries},
                     {"bytes", s->bytes},
                     {"hits", s->hits},
                     {"misses", s->misses},
                     {"evictions", s->evictions}};
  } else {
    body["cache"] = nullptr;
  }
  return json_ok(version, body);
}

}  // namespace kvstream::http
