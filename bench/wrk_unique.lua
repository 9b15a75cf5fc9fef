-- A chat completion with a unique user message per request, so no response cache can hit.
-- Unique across wrk's threads (each numbers its own requests under its own prefix) and across
-- runs against the same server (WRK_SALT, else the start time: a warm-up run must not fill
-- the cache with the bodies of the measured run). Environment:
--   WRK_MODEL  the model asked for (default delay-0)
--   WRK_PATH   the request path (default /v1/chat/completions)
--   WRK_STREAM "1" asks for a streamed answer
--   WRK_SALT   a run label put into every message
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local model = os.getenv("WRK_MODEL") or "delay-0"
local path = os.getenv("WRK_PATH") or "/v1/chat/completions"
local stream = os.getenv("WRK_STREAM") == "1" and ',"stream":true' or ''
local salt = os.getenv("WRK_SALT") or tostring(os.time())

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = '{"model":"' .. model .. '","max_tokens":16' .. stream ..
    ',"messages":[{"role":"user","content":' ..
    '"How many days of annual leave do new employees get? [request ' .. salt .. '-' ..
    tostring(tid or 0) .. '-' .. n .. ']"}]}'
  return wrk.format(nil, path, nil, body)
end
