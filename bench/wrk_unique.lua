-- A chat completion with a unique user message per request, so no response cache can hit.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = '{"model":"delay-0","max_tokens":16,"messages":[{"role":"user","content":' ..
    '"How many days of annual leave do new employees get? [request ' .. n .. ']"}]}'
  return wrk.format(nil, "/v1/chat/completions", nil, body)
end
