-- wrk script for one Mux delivery-usage endpoint of the load benchmark (bench/load/run.py).
--
--   LOAD_PATH=... LOAD_PAGES=... LOAD_RATE=... LOAD_MAX=... LOAD_OUT=... \
--       wrk -t1 -cN -dS -H 'Authorization: Basic ...' -s mux.lua http://127.0.0.1:PORT
--
-- LOAD_PATH   request path with its query string, without `page`
-- LOAD_PAGES  every request asks for a page drawn uniformly from 1..LOAD_PAGES
-- LOAD_RATE   requests per second over all LOAD_CONNECTIONS connections (wrk's -c; 0: as
--             fast as the server answers)
-- LOAD_MAX    stop after about this many responses (0: only the duration bounds the run)
-- LOAD_OUT    where done() writes its JSON summary
--
-- Parameters come from the environment: done() runs in wrk's main Lua state, where init()
-- (and its arguments) never ran. It sees wrk's totals: requests, socket errors, `status`
-- (responses with a status >= 400) and the latency histogram (microseconds).

local path = os.getenv("LOAD_PATH") or "/"
local pages = tonumber(os.getenv("LOAD_PAGES") or "1")
local rate = tonumber(os.getenv("LOAD_RATE") or "0")
local max_responses = tonumber(os.getenv("LOAD_MAX") or "0")
local out = os.getenv("LOAD_OUT") or "wrk-summary.json"
local responses = 0
local separator = string.find(path, "?", 1, true) and "&" or "?"

function init(args)
   math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

-- A monotonic clock in milliseconds (wrk's Lua is LuaJIT: its FFI reaches clock_gettime).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } load_timespec;
int clock_gettime(int clk_id, load_timespec *tp);
]]
local clock = ffi.new("load_timespec")
local function now_ms()
   ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
   return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local next_due = nil
local CATCH_UP_MS = 50

function delay()
   if rate <= 0 then
      return 0
   end
   -- One timetable for all the connections: each request takes the next slot, 1/rate after
   -- the previous one. A slot already past is sent at once; the timetable never runs more
   -- than CATCH_UP_MS behind now (no long burst after a stall): `rate` requests a second
   -- if the connections keep up.
   local now = now_ms()
   if next_due == nil or next_due < now - CATCH_UP_MS then
      next_due = now - (next_due == nil and 0 or CATCH_UP_MS)
   end
   local wait = next_due - now
   next_due = next_due + 1000 / rate
   return math.floor(wait)
end

function request()
   return wrk.format("GET", path .. separator .. "page=" .. math.random(1, pages))
end

function response(status, headers, body)
   responses = responses + 1
   if max_responses > 0 and responses >= max_responses then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local f = io.open(out, "w")
   f:write(string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
      '"status_errors": %d, "timeouts": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
   f:close()
end
