/**
 * `leaseStep` (algorithms.ts) in Lua, for Redis: one EVALSHA per lease, atomic on one key (a
 * hash), so it runs unchanged on Upstash, on a cluster, and on plain redis-server. Written here
 * rather than bending `@upstash/ratelimit`: its scripts take one unit per request or `rate` units
 * without a cap near the limit, keep refused requests in fixed windows, and cannot give units
 * back, which a lease needs. The hash is pinned and a test loads the script into a real
 * redis-server to check it, and runs both versions on the same inputs (as upstash pins theirs).
 *
 * Arithmetic follows the TypeScript line by line (doubles in both; integer-first division in the
 * sliding window's retry time), so both stores answer alike. Numbers reach Redis as integers:
 * Lua 5.1 prints them with %.14g, exact for the 13-digit millisecond times used here.
 *
 * @module
 */

export const LEASE_SCRIPT = `-- invoker-gateway: take a lease of rate-limit capacity (src/store/algorithms.ts, in Lua)
local key = KEYS[1]                    -- the counter (a hash)
local algorithm = tonumber(ARGV[1])    -- 1 fixed window, 2 sliding window, 3 token bucket
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])       -- ms
local now = tonumber(ARGV[4])          -- ms, the gateway's clock (as @upstash/ratelimit does)
local want = tonumber(ARGV[5])         -- units needed now
local extra = tonumber(ARGV[6])        -- headroom wanted
local adjustEpoch = tonumber(ARGV[7])  -- lease period of the adjustment, -1 for none
local adjustUnits = tonumber(ARGV[8])  -- > 0 gives unspent units back, < 0 charges units
local divisor = tonumber(ARGV[9])      -- headroom is at most 1/divisor of what would be left
local slack = tonumber(ARGV[10])       -- ms kept beyond the state's last use
-- returns { granted, remaining, resetAt, retryAt, epoch, epochEnds }

local function grantOf(available)
  if available <= want then return math.max(0, available) end
  return want + math.min(extra, math.floor((available - want) / divisor))
end

local function keep(expiresAt)
  redis.call('PEXPIRE', key, math.max(1, expiresAt - now + slack))
end

if algorithm == 1 then
  local epoch = math.floor(now / window)
  local state = redis.call('HMGET', key, 'w', 'c')
  local count = 0
  if tonumber(state[1]) == epoch then count = tonumber(state[2]) end
  if adjustEpoch == epoch then count = math.max(0, count - adjustUnits) end
  local granted = grantOf(math.max(0, limit - count))
  count = count + granted
  local resetAt = (epoch + 1) * window
  local remaining = math.max(0, limit - count)
  local retryAt = now
  if remaining == 0 then retryAt = resetAt end
  redis.call('HSET', key, 'w', epoch, 'c', count)
  keep(resetAt)
  return { granted, remaining, resetAt, retryAt, epoch, resetAt }
end

if algorithm == 2 then
  local epoch = math.floor(now / window)
  local state = redis.call('HMGET', key, 'w', 'c', 'p')
  local stored = tonumber(state[1])
  local current = 0
  local previous = 0
  if stored == epoch then
    current = tonumber(state[2])
    previous = tonumber(state[3])
  elseif stored == epoch - 1 then
    previous = tonumber(state[2])
  end
  if adjustEpoch == epoch then
    current = math.max(0, current - adjustUnits)
  elseif adjustEpoch == epoch - 1 then
    previous = math.max(0, previous - adjustUnits)
  end
  local weighted = math.floor((1 - (now % window) / window) * previous)
  local granted = grantOf(math.max(0, limit - weighted - current))
  current = current + granted
  local resetAt = (epoch + 1) * window
  local remaining = math.max(0, limit - weighted - current)
  local retryAt = now
  if remaining == 0 then
    if current >= limit then
      retryAt = resetAt + math.floor((window * (current - limit)) / current) + 1
    else
      retryAt = math.max(now + 1, epoch * window + math.floor((window * (previous - limit + current)) / previous) + 1)
    end
  end
  redis.call('HSET', key, 'w', epoch, 'c', current, 'p', previous)
  keep(resetAt + window)
  return { granted, remaining, resetAt, retryAt, epoch, resetAt }
end

local state = redis.call('HMGET', key, 'r', 't')
local refilledAt = now
local tokens = limit
if state[1] then
  refilledAt = tonumber(state[1])
  tokens = tonumber(state[2])
end
if now >= refilledAt + window then
  local refills = math.floor((now - refilledAt) / window)
  tokens = math.min(limit, tokens + refills * limit)
  refilledAt = refilledAt + refills * window
end
if adjustUnits ~= 0 then tokens = math.min(limit, math.max(0, tokens + adjustUnits)) end
local granted = grantOf(tokens)
tokens = tokens - granted
local resetAt = refilledAt + window
local retryAt = now
if tokens == 0 then retryAt = resetAt end
redis.call('HSET', key, 'r', refilledAt, 't', tokens)
keep(refilledAt + math.ceil((limit - tokens) / limit) * window)
return { granted, tokens, resetAt, retryAt, refilledAt, resetAt }
`

/** SHA-1 of LEASE_SCRIPT, as EVALSHA names it; test/node/lease-script.test.ts checks it. */
export const LEASE_SCRIPT_SHA1 = '36a52312610865d88b7be1a9abcb4c53a3e255f8'

export const ALGORITHM_CODES = { fixed_window: 1, sliding_window: 2, token_bucket: 3 } as const
