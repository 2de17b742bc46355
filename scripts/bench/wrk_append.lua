-- wrk script of the rest-native benchmark (scripts/bench/native_load.ts, target 4w).
--
-- Every request POSTs one event, {"event_type":"updated","payload":PAYLOAD}, to
-- /v1/aggregates/bench/<id>/events with the bench token. wrk exposes no connection id to
-- Lua, so each thread owns as many aggregates as it has connections (wrk-<t*per>…
-- wrk-<t*per+per-1>) and hands them out round-robin, one per request: with every connection
-- keeping one request in flight, each aggregate has about one append in flight at a time.
--
-- Arguments (after `--`): the token, the connections per thread, the request body.
-- Every answer that is not 201 is counted (and the first one kept); done() prints one line
-- `WRK_RESULT {json}` with wrk's totals, its error counters, latency figures and 1000
-- latency quantiles (µs, at 0.05 %, 0.15 %, … 99.95 %) so rounds can be pooled.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local prepared = {}
local per = 1
local slot = 0

function init(args)
  local token, body = args[1], args[3]
  per = tonumber(args[2])
  bad = 0
  first_bad = ""
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  for k = 0, per - 1 do
    local path = "/v1/aggregates/bench/wrk-" .. (tid * per + k) .. "/events"
    prepared[k + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  slot = slot % per + 1
  return prepared[slot]
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local non201, first = 0, ""
  for _, thread in ipairs(threads) do
    non201 = non201 + (thread:get("bad") or 0)
    local f = thread:get("first_bad")
    if first == "" and f then first = f end
  end
  first = string.gsub(first, "[^%w %.:,_%-]", "_")
  local quantiles = {}
  for i = 1, 1000 do
    quantiles[i] = string.format("%d", latency:percentile((i - 0.5) / 10))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,"non201":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p99":%d},' ..
      '"quantiles_us":[%s],"first_non201":"%s"}\n',
    summary.duration, summary.requests, summary.bytes, non201,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(99),
    table.concat(quantiles, ","), first))
end
