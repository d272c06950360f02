-- wrk script for scripts/bench.sh: POST /collect batches the beacon would send.
--
--   wrk -t1 -c32 -d10s --latency -s scripts/bench/collect.lua http://127.0.0.1:PORT -- BATCH RUN [RATE]
--
-- BATCH  events per request (1..100)
-- RUN    8 hex digits that differ between wrk runs, so ids never repeat against one store
-- RATE   requests a second to pace at (0 or absent: as fast as the connections go)
--
-- Every event is a page view with a unique id, a Chrome user agent, `screen` set and a
-- current `ts`, so the collector stores it (no bot filter, no dedupe). Ids come from a
-- counter formatted as a UUID, not from random hex: making 32 random digits per id in Lua
-- costs more than the ceiling server spends per request, and the client would be measured.
-- Each request is a new visitor (visitor and session ids from the same counter) sending
-- BATCH page views of one session.
--
-- Pacing (RATE > 0): Debian's wrk 4.1 has no wrk2 `-R`. Before each request wrk asks
-- `delay()` how many milliseconds to wait; this script keeps one schedule of send slots
-- 1/RATE apart for the thread (a monotonic clock through LuaJIT's FFI) and answers the
-- time to the next free slot, dithered to whole milliseconds so the mean is exact. The load
-- is open loop as long as a connection is free at each slot; latency is wrk's, measured
-- from the actual send (a request that waited for a busy connection is not charged for
-- the wait), so keep RATE well under what the connections can carry.
--
-- `done` prints one line, `BENCH key=value ...`, that scripts/bench.sh reads.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } spoor_timespec;
int clock_gettime(int clock, spoor_timespec *ts);
]]
local clock_buf = ffi.new("spoor_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, clock_buf) -- CLOCK_MONOTONIC
    return tonumber(clock_buf.tv_sec) * 1000 + tonumber(clock_buf.tv_nsec) / 1e6
end

-- In wrk's main Lua state: number the threads (each thread runs this file in its own state).
local threads_made = 0
function setup(thread)
    thread:set("thread_no", threads_made)
    threads_made = threads_made + 1
end

local batch, run, rate = 1, "00000000", 0
local counter = 0
local headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        .. "Chrome/131.0.0.0 Safari/537.36",
}
local ts, prefix, event_tail
local interval, next_slot = 0, 0

function init(args)
    batch = tonumber(args[1]) or 1
    run = args[2] or run
    rate = tonumber(args[3]) or 0
    -- The global thread_no is set by setup() before init runs in this thread's state.
    prefix = string.format("%s-%04x-4000-8000-", run, (rawget(_G, "thread_no") or 0) % 65536)
    ts = string.format("%d", os.time() * 1000)
    event_tail = '","type":"pageview","url":"http://localhost/bench/page","referrer":'
        .. '"https://duckduckgo.com/","title":"Bench","ts":' .. ts
        .. ',"screen":"1920x1080","lang":"en-GB","tz":"Europe/London",'
    if rate > 0 then
        -- Each wrk thread paces its own share; scripts/bench.sh runs one thread.
        interval = 1000 / rate
        next_slot = now_ms()
        delay = function()
            local t = now_ms()
            -- After a stall, restart the schedule instead of bursting to catch up.
            if next_slot < t - 100 then
                next_slot = t
            end
            next_slot = next_slot + interval
            local wait = next_slot - t
            if wait <= 0 then
                return 0
            end
            return math.floor(wait + math.random())
        end
    end
end

function request()
    counter = counter + 1
    local who = string.format('"visitor":"%s%012x","session":"%s%012x"}', prefix, counter, prefix, counter)
    local parts = {}
    for i = 1, batch do
        parts[i] = string.format('{"id":"%s%012x', prefix, counter * 128 + i) .. event_tail .. who
    end
    local body = '{"site":"demo","events":[' .. table.concat(parts, ",") .. "]}"
    return wrk.format("POST", "/collect", headers, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d "
            .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
