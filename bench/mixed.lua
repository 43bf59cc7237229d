-- mixed.lua — wrk script: every connection cycles through KW_BENCH_PATHS (comma-separated
-- request paths, each with its query), sending KW_BENCH_KEY as X-API-Key; prints the same
-- machine-readable line as report.lua. The dashboard's polling, as one load.
local key = os.getenv("KW_BENCH_KEY")
if key and key ~= "" then
  wrk.headers["X-API-Key"] = key
end
local paths = {}
for p in string.gmatch(os.getenv("KW_BENCH_PATHS") or "/api/status", "[^,]+") do
  paths[#paths + 1] = p
end
local i = 0

setup = function(thread)
  thread:set("offset", #paths > 0 and math.random(#paths) or 1)
end

request = function()
  i = i + 1
  return wrk.format("GET", paths[((i + (offset or 0)) % #paths) + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KWBENCH rps=%.1f p50_us=%d p99_us=%d requests=%d errors=%d " ..
    "(status=%d connect=%d read=%d write=%d timeout=%d)\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50),
    latency:percentile(99), summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout,
    e.status, e.connect, e.read, e.write, e.timeout))
end
