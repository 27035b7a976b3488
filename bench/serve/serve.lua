-- wrk script for bench/serve: GET /v1/recommend or /v1/search, or a static
-- file, optionally paced to a fixed total rate.
-- Environment:
--   VT_KEY     key sent as a Bearer token (read scope), may be empty
--   MODE       "recommend", "search" (20 queries, repeated), "search_unique"
--              (every query text new) or "static"
--   USERS      recommend: users are bench-u0 .. bench-u(USERS-1)
--   RATE       total requests/s over all connections (0 = as fast as possible)
--   CONNS      connections wrk opens (for pacing)
--   STATIC     path of the static file (MODE=static)
local key = os.getenv("VT_KEY") or ""
local mode = os.getenv("MODE") or "recommend"
local users = tonumber(os.getenv("USERS") or "1000")
local rate = tonumber(os.getenv("RATE") or "0")
local conns = tonumber(os.getenv("CONNS") or "1")
local static = os.getenv("STATIC") or "/bench.json"
local queries = {"sofa", "black leather sofa", "沙发", "coffee table for a small living room",
  "适合小客厅的茶几", "bed under 2000", "desk lamp", "书架", "dining chair", "双人床",
  "wardrobe", "office chair", "kitchen cabinet", "bathroom sink", "red armchair",
  "plant", "television", "衣柜", "glass table", "children bed"}
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  counter = counter + 1
  local n = counter * 7919 + thread_id * 104729
  local path
  if mode == "recommend" then
    path = string.format("/v1/recommend?user_id=bench-u%d&n=10", n % users)
  elseif mode == "search" then
    path = "/v1/search?n=10&q=" .. urlencode(queries[(n % #queries) + 1])
  elseif mode == "search_unique" then
    -- every query text new: a number the shop has never seen makes each
    -- one miss the server's cache of query embeddings
    path = "/v1/search?n=10&q=" .. urlencode(queries[(n % #queries) + 1] .. " " ..
      tostring(thread_id * 100000000 + counter))
  else
    path = static
  end
  local headers = {}
  if key ~= "" then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("GET", path, headers)
end

-- Pacing: each connection waits conns / rate seconds between requests, so
-- the total offered rate is about RATE whatever the answer times are.
function delay()
  if rate <= 0 then return 0 end
  return 1000 * conns / rate
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d errors_status=%d errors_other=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d bytes=%d\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, summary.bytes))
end
