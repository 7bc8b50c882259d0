-- wrk script: POST the file named by $WRK_BODY, print one JSON line of results at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = io.open(os.getenv("WRK_BODY"), "rb"); wrk.body = f:read("*all"); f:close()
done = function(summary, latency, requests)
  io.write(string.format('{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
