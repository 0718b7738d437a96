-- wrk script of the bench's HTTP scenarios (bench/wrk.py runs it): every request is a different one,
-- and done() prints one JSON line that bench/wrk.py parses.
--
--   wrk ... -s bench/lua/load.lua <url> -- contacts <run tag> <threads> <bearer key>
--       POST /v1/contacts, each body a new customer's first message (unique e-mail, message id, text)
--   wrk ... -s bench/lua/load.lua <url> -- tokens <token file> <threads>
--       GET /s/<token>?score=9, walking the file's tokens (one a line) so threads never share one
--   wrk ... -s bench/lua/load.lua <url> -- signed <delivery file> <threads> <shop>
--       POST /v1/platforms/shopify/<shop>, walking the file's signed deliveries (bench/shopify_orders.py:
--       signature, event id, trigger time and body, tab-separated, one a line); thread i sends lines
--       i, i + threads, ... read as it goes (the file is large); at its end a thread starts it again,
--       counted in "wrapped" (a repeat is a duplicate delivery to the adapter)

local counter = 0
local mode, tag, threads, key
local tokens = {}
local deliveries, shopify_path, line_no
wrapped = 0
local all_threads = {}

function setup(thread)
  -- runs in the main state, once per thread before it starts: the thread learns its number
  setup_count = (setup_count or 0) + 1
  thread:set("thread_id", setup_count - 1)
  all_threads[#all_threads + 1] = thread
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
  elseif mode == "signed" then
    threads = tonumber(args[3])
    deliveries = assert(io.open(args[2], "rb"))
    shopify_path = "/v1/platforms/shopify/" .. args[4]
    line_no = -1
  else
    error("unknown mode " .. tostring(mode) .. ": contacts, tokens or signed")
  end
  counter = thread_id
end

local function next_delivery()
  -- the next line of this thread's share of the file, from its start again after the end
  while true do
    local line = deliveries:read("*l")
    if line == nil then
      assert(line_no >= 0, "no delivery in the file")
      wrapped = wrapped + 1
      deliveries:seek("set", 0)
      line_no = -1
    else
      line_no = line_no + 1
      if line_no % threads == thread_id and #line > 0 then
        return line
      end
    end
  end
end

local function signed_request()
  local signature, event_id, at, body = next_delivery():match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)$")
  assert(body, "a delivery line is signature, event id, trigger time and body, tab-separated")
  return wrk.format("POST", shopify_path, {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Hmac-Sha256"] = signature,
    ["X-Shopify-Event-Id"] = event_id,
    ["X-Shopify-Triggered-At"] = at,
    ["X-Shopify-Shop-Domain"] = "sklep-demo.myshopify.com",
    ["X-Shopify-API-Version"] = "2024-07",
  }, body)
end

function request()
  if mode == "signed" then
    return signed_request()
  end
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
  local wraps = 0
  for _, thread in ipairs(all_threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, wraps))
end
