-- wrk script of the bench's HTTP scenarios (bench/wrk.py runs it): every request is a different one,
-- and done() prints one JSON line that bench/wrk.py parses.
--
--   wrk ... -s bench/lua/load.lua <url> -- contacts <run tag> <threads> <bearer key>
--       POST /v1/contacts, each body a new customer's first message (unique e-mail, message id, text)
--   wrk ... -s bench/lua/load.lua <url> -- tokens <token file> <threads>
--       GET /s/<token>?score=9, walking the file's tokens (one a line) so threads never share one

local counter = 0
local mode, tag, threads, key
local tokens = {}

function setup(thread)
  -- runs in the main state, once per thread before it starts: the thread learns its number
  setup_count = (setup_count or 0) + 1
  thread:set("thread_id", setup_count - 1)
end

function init(args)
  mode = args[1]
  if mode == "contacts" then
    tag, threads, key = args[2], tonumber(args[3]), args[4]
  elseif mode == "tokens" then
    threads = tonumber(args[3])
    for line in io.lines(args[2]) do
      if #line > 0 then
        tokens[#tokens + 1] = line
      end
    end
    assert(#tokens > 0, "no token in " .. args[2])
  else
    error("unknown mode " .. tostring(mode) .. ": contacts or tokens")
  end
  counter = thread_id
end

function request()
  local n = counter
  counter = counter + threads
  if mode == "contacts" then
    local id = tag .. "-" .. n
    local body = '{"channel":"web_form","customer_email":"bench.' .. id .. '@example.com",'
      .. '"customer_name":"Anna Nowak","customer_locale":"pl","subject":"Where is my parcel?",'
      .. '"body":"Hello, my order has not arrived yet, could you check it please? (request '
      .. id .. ')","channel_message_id":"bench-' .. id .. '"}'
    return wrk.format("POST", "/v1/contacts", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
    }, body)
  end
  return wrk.format("GET", "/s/" .. tokens[(n % #tokens) + 1] .. "?score=9")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
