-- wrk script: POST the body in $WRK_BODY, print one JSON line of results at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

-- With $WRK_UNIQUE set, every "{n}" in the body becomes the request's number: events never repeat.
-- With $WRK_REPEAT = r, it becomes one of 100 values with probability r, else a value never sent before.
local repeat_share = tonumber(os.getenv("WRK_REPEAT") or "")
if os.getenv("WRK_UNIQUE") or repeat_share then
  local n = 0
  request = function()
    n = n + 1
    local value = n
    if repeat_share then
      value = math.random() < repeat_share and math.random(1, 100) or 1000 + n
    end
    return wrk.format(nil, nil, nil, (wrk.body:gsub("{n}", tostring(value))))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "errors": %d, "non_2xx": %d, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout + e.status, e.status,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
