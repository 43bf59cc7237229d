-- report.lua — wrk script: optional API key header, optional list of paths, and one
-- machine-readable result line.
-- KW_BENCH_KEY (if set) is sent as X-API-Key. Non-2xx/3xx answers count as errors.
-- KW_BENCH_PATHS (if set: comma-separated request paths, each with its query) makes every
-- connection cycle through them instead of the URL's path: the dashboard's polling as one load.
local key = os.getenv("KW_BENCH_KEY")
if key and key ~= "" then
  wrk.headers["X-API-Key"] = key
end

local paths = {}
for p in string.gmatch(os.getenv("KW_BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = p
end
if #paths > 0 then
  local i = 0

  setup = function(thread)
    thread:set("offset", math.random(#paths))
  end

  request = function()
    i = i + 1
    return wrk.format("GET", paths[((i + (offset or 0)) % #paths) + 1])
  end
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
