-- report.lua — wrk script: optional API key header, and one machine-readable result line.
-- KW_BENCH_KEY (if set) is sent as X-API-Key. Non-2xx/3xx answers count as errors.
local key = os.getenv("KW_BENCH_KEY")
if key and key ~= "" then
  wrk.headers["X-API-Key"] = key
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
