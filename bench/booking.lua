-- wrk script for bench/booking_load.py: POST a different booking body on every request.
-- Arguments after `--`: the file of JSON bodies (one a line) and the number of wrk threads;
-- thread k sends lines k, k + threads, k + 2 * threads, ... and repeats its last one when
-- it runs out (those answers are 409s, counted as refused).

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  bodies = {}
  sent = 0
  local threads = tonumber(args[2])
  local index = 0
  for line in io.lines(args[1]) do
    if index % threads == id then
      bodies[#bodies + 1] = line
    end
    index = index + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[math.min(sent, #bodies)])
end
