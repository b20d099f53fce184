-- wrk script: POST the body in $WRK_BODY, print one JSON line of results at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

-- With $WRK_UNIQUE set, every "{n}" in the body becomes the request's number: events never repeat.
if os.getenv("WRK_UNIQUE") then
  local n = 0
  request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, (wrk.body:gsub("{n}", tostring(n))))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "errors": %d, "non_2xx": %d, "p50_ms": %.3f, "p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout + e.status, e.status,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
