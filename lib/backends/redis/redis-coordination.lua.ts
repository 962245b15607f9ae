/**
 * The leases of RedisCoordination: HASH P..'lead:'..name {holder, expires, fence}. Times are the
 * server's (TIME), so the clocks of the processes competing never matter. The hash is kept when
 * its lease lapses or is resigned: the fence goes on growing from where it was.
 */

/** The server's clock in epoch ms. */
const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/**
 * KEYS[1]: the lease's hash. ARGV: holder, ttlMs. Takes the lease when it is free or lapsed,
 * renews it for its holder; returns {leader 0/1, fence, holder}. A new holder starts the next term.
 */
export const TRY_LEAD_LUA = `${NOW}
local key, holder, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2])
local lease = redis.call('HMGET', key, 'holder', 'expires', 'fence')
local current, expires, fence = lease[1], tonumber(lease[2]) or 0, tonumber(lease[3]) or 0
if current == holder or not current or expires <= now then
  if current ~= holder then fence = fence + 1 end
  redis.call('HSET', key, 'holder', holder, 'expires', now + ttl, 'fence', fence)
  return { 1, fence, holder }
end
return { 0, fence, current }
`;

/** KEYS[1]: the lease's hash. ARGV: holder. Lets the lease lapse at once when holder has it. */
export const RESIGN_LUA = `
local key = KEYS[1]
if redis.call('HGET', key, 'holder') == ARGV[1] then redis.call('HSET', key, 'expires', 0) end
return 0
`;
