-- S1 / R1 / R2 / R3 / R4: GET one record by a random id.
-- Env: IDS (file of ids, one per line), PREFIX (path before the id), TOKEN (optional Bearer token)
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("PREFIX")
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
