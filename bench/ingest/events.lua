-- wrk script: POST /v1/events with BATCH events per request.
-- Environment: VT_KEY (ingest key), BATCH (events per request), ITEMS (item
-- ids are item-0 .. item-(ITEMS-1)). Each thread numbers its own users so
-- that requests differ the way real traffic does.
local key = os.getenv("VT_KEY")
local batch = tonumber(os.getenv("BATCH") or "1")
local items = tonumber(os.getenv("ITEMS") or "100")
local types = {"view", "click", "rotate", "zoom", "ar_session", "ar_place", "add_to_cart"}
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function request()
  counter = counter + 1
  local parts = {}
  for i = 1, batch do
    local n = counter * batch + i
    parts[i] = string.format(
      '{"user_id":"bench-%d-%d","item_id":"item-%d","type":"%s","context":{"session":"s%d"}}',
      thread_id, n % 5000, (n * 7919) % items, types[(n % #types) + 1], counter)
  end
  local body = batch == 1 and parts[1] or ("[" .. table.concat(parts, ",") .. "]")
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors_status=%d errors_other=%d duration_us=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
