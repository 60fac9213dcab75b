-- bench/http_wrk.lua: the wrk script of bench/http_bench (bench/README.md,
-- "The HTTP benchmark").
--
--   HTTP_BENCH_PATHS=paths.txt wrk -t2 -c32 -d10s --latency -s bench/http_wrk.lua URL
--
-- Each request is a GET of a path drawn uniformly at random from the file
-- HTTP_BENCH_PATHS, one path a line, already percent-encoded (e.g.
-- /v1/kv/user%3A1). HTTP_BENCH_METHOD=PUT and HTTP_BENCH_BODY=bytes make
-- them PUTs of that body instead (e.g. paths ending in ?wait=applied). The
-- requests are formatted once per thread in init(), so request() only picks
-- one. There is deliberately no response() hook: wrk
-- would then hand every response's headers and body to Lua, which costs
-- client CPU on the same cores as the server under test. Status codes are
-- counted by wrk itself instead (errors.status: responses >= 400, the
-- "Non-2xx or 3xx responses" line), and done() prints them with the results
-- as `name=value` lines for the driver.

local thread_ids = 0

function setup(thread)
  thread_ids = thread_ids + 1
  thread:set("thread_id", thread_ids)
end

local requests = {}
local count = 0

function init(args)
  local file = os.getenv("HTTP_BENCH_PATHS")
  if file == nil or file == "" then
    error("HTTP_BENCH_PATHS is not set: a file of request paths, one a line")
  end
  local method = os.getenv("HTTP_BENCH_METHOD") or "GET"
  local body = os.getenv("HTTP_BENCH_BODY")
  for line in io.lines(file) do
    if line ~= "" then
      count = count + 1
      requests[count] = wrk.format(method, line, nil, body)
    end
  end
  if count == 0 then
    error(file .. " holds no paths")
  end
  -- A different, fixed sequence per thread: runs are repeatable.
  math.randomseed(20240601 + 7919 * (thread_id or 0))
end

function request()
  return requests[math.random(count)]
end

function done(summary, latency, _)
  local e = summary.errors
  local lines = {
    "requests=" .. summary.requests,
    "duration_us=" .. summary.duration,
    "bytes=" .. summary.bytes,
    "errors_connect=" .. e.connect,
    "errors_read=" .. e.read,
    "errors_write=" .. e.write,
    "errors_timeout=" .. e.timeout,
    "errors_status=" .. e.status,
    "latency_mean_us=" .. string.format("%.1f", latency.mean),
    "latency_max_us=" .. latency.max,
    "p50_us=" .. latency:percentile(50),
    "p90_us=" .. latency:percentile(90),
    "p99_us=" .. latency:percentile(99),
    "p999_us=" .. latency:percentile(99.9),
  }
  io.write("--- results\n" .. table.concat(lines, "\n") .. "\n")
end
