-- Unique chat completions (as wrk_unique.lua), with each response's status counted per
-- thread and, at the end, one line `WRKJSON {...}`: the status counts, how many responses
-- took longer than `over_us` (default 10 s) and the latency percentiles, all responses.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

statuses = {}
local n = 0

request = function()
  n = n + 1
  local body = '{"model":"delay-0","max_tokens":16,"messages":[{"role":"user","content":' ..
    '"How many days of annual leave do new employees get? [request ' .. id .. '-' .. n .. ']"}]}'
  return wrk.format(nil, "/v1/chat/completions", nil, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- The share of responses slower than `limit_us`, found by bisecting the percentiles.
local function share_over(latency, limit_us)
  if latency.max <= limit_us then return 0 end
  local lo, hi = 0.0, 100.0
  for _ = 1, 40 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) > limit_us then hi = mid else lo = mid end
  end
  return (100.0 - hi) / 100.0
end

done = function(summary, latency, requests)
  local agg = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do agg[k] = (agg[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(agg) do table.insert(parts, '"' .. k .. '":' .. v) end
  local over_us = tonumber(os.getenv("WRK_OVER_US") or "10000000")
  io.write(string.format(
    'WRKJSON {"statuses":{%s},"requests":%d,"duration_us":%d,"socket_errors":{"connect":%d,' ..
    '"read":%d,"write":%d,"timeout":%d},"over_limit_share":%.6f,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d}\n',
    table.concat(parts, ","), summary.requests, summary.duration, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    share_over(latency, over_us), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
