"""Lua scripts of the archive limit: each check-and-change runs atomically inside Redis.

Time is Redis's own clock (`TIME`), so hosts with skewed clocks share one notion of a lease's
expiry and of the bucket's refill. Limits are read from the limits hash on every call, so a
change made with `set_limits` applies to the next acquisition anywhere in the cluster.
Scripts return [granted (0/1), wait hint in ms (-1: paused), ..., limits stored (0/1)].
"""

from __future__ import annotations

# Shared by every script: the Redis clock in ms, and the limits with their defaults.
_PRELUDE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function read_limits(key, default_max, default_rate)
  local raw = redis.call('HMGET', key, 'max_concurrent', 'rate_per_second', 'burst')
  local max = tonumber(raw[1]) or tonumber(default_max)
  local rate = tonumber(raw[2]) or tonumber(default_rate)
  local burst = tonumber(raw[3])
  if not burst or burst <= 0 then burst = math.max(1, rate) end
  local stored = 0
  if raw[1] or raw[2] then stored = 1 end
  return max, rate, burst, stored
end
-- A key that holds leases lives at least as long as the given lease.
local function keep_for(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, math.ceil(ms)) end
end
"""

# KEYS: slots, limits. ARGV: holder, lease ms, default max, default rate.
ACQUIRE_SLOT = (
    _PRELUDE
    + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local max, rate, burst, stored = read_limits(KEYS[2], ARGV[3], ARGV[4])
if rate <= 0 then return {0, -1, stored} end
local lease = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  keep_for(KEYS[1], lease)
  return {1, 0, stored}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.ceil(tonumber(first[2]) - now), stored}
"""
)

# KEYS: slots. ARGV: holder, lease ms. A lease still in the set has not been given to anyone
# else (expired leases are evicted only by an acquisition), so it may be extended.
RENEW_SLOT = (
    _PRELUDE
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now_ms() + lease, ARGV[1])
keep_for(KEYS[1], lease)
return 1
"""
)

# KEYS: slots, wake channel. ARGV: holder.
RELEASE_SLOT = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', KEYS[2], 'slot')
  return 1
end
return 0
"""

# KEYS: tokens, limits. ARGV: n, default max, default rate.
# A request larger than the bucket is granted when the bucket is full and leaves it in debt,
# so `take(n_instances)` of a big study works and the studies after it wait n / rate.
TAKE_TOKENS = (
    _PRELUDE
    + """
local now = now_ms()
local max, rate, burst, stored = read_limits(KEYS[2], ARGV[2], ARGV[3])
if rate <= 0 then return {0, -1, stored} end
local n = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local need = math.min(n, burst)
if tokens < need then
  return {0, math.ceil((need - tokens) * 1000 / rate), stored}
end
tokens = tokens - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
-- Once full again the bucket is the same as no bucket: let the key go.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {1, 0, stored}
"""
)

# KEYS: slots, tokens, limits. ARGV: default max, default rate. Reads, changes nothing.
# Returns [live holders..., tokens now (string)].
SNAPSHOT = (
    _PRELUDE
    + """
local now = now_ms()
local max, rate, burst, stored = read_limits(KEYS[3], ARGV[1], ARGV[2])
local holders = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local state = redis.call('HMGET', KEYS[2], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
table.insert(holders, tostring(tokens))
return holders
"""
)
