-- wrk script: private_key_jwt token requests, each with its own pre-signed assertion (bench/assertions.py):
-- a jti is accepted once, so the bodies are read from the file named by BODIES and used in turn.
local bodies = {}
local n = 0
local codes = {}
init = function(args)
  for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
end
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[((n - 1) % #bodies) + 1])
end
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
done = function(summary, latency, requests)
  local s = ""
  for k, v in pairs(codes) do s = s .. k .. "=" .. v .. " " end
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx_or_errors=%d codes=%s\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, s))
end
