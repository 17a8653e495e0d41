-- S8: GET records at a fixed total rate: each connection waits its share.
-- Env: IDS, PREFIX, TOKEN, RATE (requests/s, all connections), CONNS
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("PREFIX")
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local gap = 1000 * tonumber(os.getenv("CONNS")) / tonumber(os.getenv("RATE"))
math.randomseed(os.time())
request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
delay = function()
  return gap
end
