-- POSTs the body file BODY; "@@TURN@@" is replaced by a per-request counter (a new tool result).
local body, parts, n = nil, nil, 0
function init(args)
  local f = assert(io.open(args[1], "rb")); body = f:read("*a"); f:close()
  local a, b = body:find("@@TURN@@", 1, true)
  if a then parts = { body:sub(1, a - 1), body:sub(b + 1) } end
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["x-llmfw-operator"] = "bench-op"
  wrk.headers["x-llmfw-session"] = "bench-s-" .. tostring(math.random(1, 1000000))
end
function request()
  if parts then
    n = n + 1
    return wrk.format(nil, nil, nil, parts[1] .. string.format("turn-%08d", n) .. parts[2])
  end
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
