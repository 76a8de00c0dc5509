-- `stele bench --http`: wrk posts record.create actions to a `stele serve` on loopback, every
-- request a distinct record (its own number and notation) with a fresh Idempotency-Key.
-- STELE_BATCH = 1: POST /v1/records; more: POST /v1/batch with that many creates.
-- The bench passes the token, the content digest and the run's tag in the environment, and
-- reads the line `STELE {json}` this script prints when wrk is done.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("STELE_TOKEN")
  digest = os.getenv("STELE_DIGEST")
  run = os.getenv("STELE_RUN")
  agency = os.getenv("STELE_AGENCY")
  batch = tonumber(os.getenv("STELE_BATCH") or "1")
  sent, ok, refused = 0, 0, 0
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  path = batch == 1 and "/v1/records" or "/v1/batch"
end

local function create(n)
  return string.format(
    '{"metadata":{"doc_type":"Công văn","number":"%d","notation":"%d/WRK-%s-%d",' ..
    '"issued":"2024-05-02","issuer":"%s","subject":"HTTP bench","language":"vi","pages":1,' ..
    '"access":"open","reliability":"born_digital"},"retention":10,"schedule":"B",' ..
    '"content":{"digest":"%s","size":5,"media_type":"text/plain"}}',
    n, n, run, id, agency, digest)
end

function request()
  local parts = {}
  for _ = 1, batch do
    sent = sent + 1
    parts[#parts + 1] = create(sent)
  end
  local body
  if batch == 1 then
    body = parts[1]
  else
    for i, p in ipairs(parts) do
      parts[i] = '{"action":"record.create","params":' .. p .. '}'
    end
    body = '{"actions":[' .. table.concat(parts, ",") .. ']}'
  end
  headers["Idempotency-Key"] = string.format("%s-%d-%d", run, id, sent)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status == 200 or status == 201 then
    ok = ok + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local acknowledged, failed = 0, 0
  for _, thread in ipairs(threads) do
    acknowledged = acknowledged + thread:get("ok")
    failed = failed + thread:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    'STELE {"requests":%d,"acknowledged":%d,"refused":%d,"socket_errors":%d,' ..
    '"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, acknowledged, failed, e.connect + e.read + e.write + e.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
