-- post.lua — wrk script: POST the JSON body in $BODY_FILE with optional
-- $AUTH ("Bearer ..."), and print one machine-readable RESULT line at the end.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f requests=%d seconds=%.2f p50_us=%d p90_us=%d p99_us=%d connect_err=%d read_err=%d write_err=%d status_err=%d timeout=%d\n",
    summary.requests / s, summary.requests, s, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
