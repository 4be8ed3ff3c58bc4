/**
 * `slotStep` (slots.ts) in Lua, for Redis: one EVALSHA per call, atomic on one key (a sorted set
 * of slot ids scored by their expiry in Unix ms), so it runs unchanged on Upstash, on a cluster
 * and on plain redis-server. The hash is pinned and a test loads the script into a real
 * redis-server to check it, and runs both versions on the same inputs (as for the lease script).
 *
 * Scores are 13-digit millisecond integers: exact in Redis' doubles and in Lua 5.1's numbers.
 *
 * @module
 */

export const SLOT_SCRIPT = `-- invoker-gateway: concurrency slots (src/store/slots.ts, in Lua)
local key = KEYS[1]                    -- the counter (a sorted set: slot id -> expiry, Unix ms)
local now = tonumber(ARGV[1])          -- ms, the gateway's clock
local limit = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])        -- ms a taken or renewed slot lives
local slack = tonumber(ARGV[4])        -- ms kept on the key beyond its last slot's expiry
local acquire = ARGV[5]                -- slot to take, '' for none
local renewCount = tonumber(ARGV[6])   -- ARGV[7 .. 6+renewCount] renew, the rest release
-- returns { acquired (-1 none, 0 refused, 1 taken), open, lost slot ids... }

redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
for i = 7 + renewCount, #ARGV do
  redis.call('ZREM', key, ARGV[i])
end
local result = { -1, 0 }
for i = 7, 6 + renewCount do
  if redis.call('ZSCORE', key, ARGV[i]) then
    redis.call('ZADD', key, now + lease, ARGV[i])
  else
    result[#result + 1] = ARGV[i]
  end
end
if acquire ~= '' then
  if redis.call('ZSCORE', key, acquire) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now + lease, acquire)
    result[1] = 1
  else
    result[1] = 0
  end
end
local open = redis.call('ZCARD', key)
result[2] = open
if open > 0 then
  redis.call('PEXPIRE', key, lease + slack)
else
  redis.call('DEL', key)
end
return result
`

/** SHA-1 of SLOT_SCRIPT, as EVALSHA names it; test/node/slot-script.test.ts checks it. */
export const SLOT_SCRIPT_SHA1 = '293e9cd57c1d1c6a3412357ca9f47fc0c8a97e26'
