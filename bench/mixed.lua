-- wrk script for bench/mixed_load.py: issue 13's mixed workload, picked per request.
-- Arguments after `--`: the requests file, the bookings file, the number of wrk threads and
-- the mix in percent `availability,lists,bookings` (70,20,10 for issue 13).
--
-- Requests file, one a line, fields separated by tabs:
--   C <clinic> <cookie header value> <csrf token>   a signed-in receptionist of a clinic
--   A <clinic or -> <path>   an availability GET (`-`: the public route, no session)
--   L <clinic> <path>        a day's appointment list (staff)
-- Bookings file: `<clinic>\t<JSON body>` a line; thread k POSTs lines k, k + threads, ...
-- in order (distinct slots) and repeats its last one when it runs out (a 409 each).
--
-- Per request (with the 70,20,10 mix): 70 % a random availability line, 20 % a random list
-- line, 10 % the thread's next booking. Each request carries X-Request-ID `avail`, `list` or `book`, which the API
-- echoes, so response() can count answers by kind and status. done() prints them as
-- `count <kind> <status> <n>` lines, the latency percentiles as `latency <p> <us>` lines,
-- and a loud `FAIL` line when any answer was a 5xx.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local fields = {}
  for field in string.gmatch(line, "[^\t]+") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  clinics, avail, lists, bookings = {}, {}, {}, {}
  counts = {}
  booked = 0
  math.randomseed(os.time() * 100 + id)
  for line in io.lines(args[1]) do
    local f = split(line)
    if f[1] == "C" then
      clinics[f[2]] = { cookie = f[3], csrf = f[4] }
    elseif f[1] == "A" then
      avail[#avail + 1] = { clinic = f[2], path = f[3] }
    elseif f[1] == "L" then
      lists[#lists + 1] = { clinic = f[2], path = f[3] }
    end
  end
  local a, l = string.match(args[4], "^(%d+),(%d+),%d+$")
  avail_below, list_below = tonumber(a) / 100, (tonumber(a) + tonumber(l)) / 100
  local stride, index = tonumber(args[3]), 0
  for line in io.lines(args[2]) do
    if index % stride == id then
      local f = split(line)
      bookings[#bookings + 1] = { clinic = f[1], body = f[2] }
    end
    index = index + 1
  end
end

local function staff(clinic, kind, extra)
  local headers = { ["Cookie"] = clinics[clinic].cookie, ["X-Request-ID"] = kind }
  for k, v in pairs(extra or {}) do
    headers[k] = v
  end
  return headers
end

function request()
  local pick = math.random()
  if pick < avail_below then
    local a = avail[math.random(#avail)]
    local headers
    if a.clinic == "-" then
      headers = { ["X-Request-ID"] = "avail" }
    else
      headers = staff(a.clinic, "avail")
    end
    return wrk.format("GET", a.path, headers, nil)
  elseif pick < list_below then
    local l = lists[math.random(#lists)]
    return wrk.format("GET", l.path, staff(l.clinic, "list"), nil)
  end
  booked = booked + 1
  local b = bookings[math.min(booked, #bookings)]
  local headers = staff(b.clinic, "book", {
    ["Content-Type"] = "application/json",
    ["X-CSRF-Token"] = clinics[b.clinic].csrf,
  })
  return wrk.format("POST", "/api/scheduling/appointments", headers, b.body)
end

function response(status, headers, body)
  local kind = headers["x-request-id"] or headers["X-Request-ID"] or "unknown"
  local key = kind .. " " .. status
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total, failed = {}, 0
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do
      total[key] = (total[key] or 0) + n
    end
  end
  for key, n in pairs(total) do
    io.write(string.format("count %s %d\n", key, n))
    if tonumber(string.match(key, "%d+$")) >= 500 then
      failed = failed + n
    end
  end
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("latency %g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("latency max %d\n", latency.max))
  if failed > 0 then
    io.write(string.format("FAIL: %d answers were 5xx\n", failed))
  end
end
