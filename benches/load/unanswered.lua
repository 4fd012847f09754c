-- wrk script: the deliveries of deliveries.lua, counting the answers with an empty body (a user
-- who got no reply) and the others. Run from the repository's root.
dofile("benches/load/deliveries.lua")

local threads = {}
local counting_setup = setup
function setup(thread)
  counting_setup(thread)
  table.insert(threads, thread)
end

answered = 0
empty = 0
function response(status, headers, body)
  if status == 200 and #body > 0 then
    answered = answered + 1
  else
    empty = empty + 1
  end
end

function done(summary, latency, requests)
  local a, e = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("answered")
    e = e + thread:get("empty")
  end
  io.write(string.format("answered %d, empty or failed %d (%.2f%%)\n", a, e, 100 * e / math.max(a + e, 1)))
end
