-- S8: GET records at a fixed total rate: each connection waits GAP_MS
-- between a reply and its next request.
-- Env: IDS, PREFIX, TOKEN, GAP_MS (fractional milliseconds)
-- wrk's delays are whole milliseconds (0.57 would be 0, no pacing at all):
-- a fractional gap is rounded up or down at random, so that the mean delay
-- is GAP_MS. bench/run.py calibrates GAP_MS for the rate it wants, because
-- a connection's rate is also bound by each reply's latency.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("PREFIX")
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local gap = tonumber(os.getenv("GAP_MS"))
local whole = math.floor(gap)
local fraction = gap - whole
math.randomseed(os.time())
request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
delay = function()
  if math.random() < fraction then return whole + 1 end
  return whole
end
