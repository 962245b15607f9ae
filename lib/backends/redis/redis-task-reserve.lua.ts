import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { TASK_LUA } from './redis-task.lua.js';

/** Delayed tasks a reserve promotes at most before it looks (the leader's promoteDue does the rest). */
export const RESERVE_PROMOTE_BATCH = 1_000;

/**
 * ARGV: P, now, limit, leaseExpiresAt, workerId, maxLapsed (-1: no limit), lapsedFrom, token base,
 * n queues, queues…, n names (-1: every name), names….
 *
 * Promotes due delayed tasks first, then walks the queues in order, skipping paused ones; in a
 * queue it merges the heads of the ready ZSETs of the names served (each read a batch at a time),
 * so the order is priority, runAt, enqueue order across names. A head not due at `now` goes back
 * to P..'delayed'; an expired one leaves its ZSET (it waits in P..'expiry' for expireOverdue); one
 * whose status is not waiting leaves it too and, when the status is no status at all (damage), is
 * reported. Tasks that lapsed `lapsedFrom` times or more beyond `maxLapsed` stay where they are.
 * Each task taken becomes running under the token `<base>:<n>` (n its place in the call).
 *
 * Returns {hashes of the tasks leased (each one string, see lease()), in order; ids of records with
 * a damaged status; ids of the tasks leased, in order; how many fields and values each hash has}.
 */
export const RESERVE_SCRIPT = new RedisScript(
  'reserve',
  `${RECORDS_LUA}${TASK_LUA}
local P, now, limit, lease_until, worker = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local max_lapsed, lapsed_from, token_base = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local n_queues = tonumber(ARGV[9])
local queues = {}
for i = 1, n_queues do queues[i] = ARGV[9 + i] end
local n_names = tonumber(ARGV[10 + n_queues])
local names
if n_names >= 0 then
  names = {}
  for i = 1, n_names do names[i] = ARGV[10 + n_queues + i] end
end
local scope = omniq_scope('0', '0', 0, '')
-- A number handed to Redis is formatted at every call: the HSET of each lease takes the text.
local now_text = ARGV[2]

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, ${RESERVE_PROMOTE_BATCH})) do
  redis.call('ZREM', P .. 'delayed', id)
  local t = omniq_load(P, id)
  if t and OMNIQ_WAITING[t.status] and (tonumber(t.unmet) or 0) == 0 then
    if t.status ~= 'pending' then omniq_set_status(P, t, 'pending', 'updatedAt', now) end
    omniq_file(P, t, now, scope)
  end
end
-- The walk reads the ready ZSETs the promotion filed into.
omniq_flush_indexes()

local leased, leased_ids, leased_parts, damaged = {}, {}, {}, {}
local lapsed_left = max_lapsed

local running = P .. 'running'

-- Leases the ready task of member m (queue q, the head of its name's ZSET; key: its hash) whose
-- stored status is old (a waiting one): what omniq_set_status does, without a table per task.
local function lease(q, head, m, id, key, old, expires, attempts, seq)
  omniq_zrem(head.key, m)
  omniq_zrem(omniq_status_key(P, q, head.name, old), id)
  omniq_zadd(omniq_status_key(P, q, head.name, 'running'), seq, id)
  redis.call('HSET', key, 'status', 'running', 'attempts', omniq_count_text((omniq_count(attempts) or 0) + 1), 'startedAt', now_text, 'updatedAt', now_text,
    'workerId', worker, 'leaseToken', token_base .. ':' .. (#leased + 1), 'leaseExpiresAt', lease_until, 'rk', '')
  omniq_zadd(running, lease_until, id)
  if expires then redis.call('ZREM', P .. 'expiry', id) end
  -- The hash as one string, its fields and values joined by NUL: a reply of one string instead of
  -- a list of some fifty costs the server and the client a fraction to hand over. No value holds
  -- a NUL once the HSET above cleared rk (the binary ready member): taskFields and the reserve
  -- refuse NUL in the texts stored as they are, and JSON escapes it in the others. (A hash that
  -- got one behind OmniQ's back splits into more parts than it has: the caller reads it again.)
  local hash = redis.call('HGETALL', key)
  leased[#leased + 1] = table.concat(hash, '\\0')
  leased_ids[#leased_ids + 1] = id
  leased_parts[#leased_parts + 1] = #hash
end

for _, q in ipairs(queues) do
  if #leased >= limit then break end
  if redis.call('HEXISTS', P .. 'paused', q) == 0 then
    local served = names or redis.call('SMEMBERS', P .. 'names:' .. q)
    local heads = {}
    -- A head reads its ZSET from offset 'off': what it took or dropped leaves the ZSET only at the
    -- flush (one ZREM per ZSET), so every member read so far lies before 'off'.
    for i, n in ipairs(served) do heads[i] = { name = n, key = P .. 'ready:' .. q .. '\\n' .. n, list = {}, pos = 1, off = 0, done = false, fresh = true } end
    while #leased < limit do
      local best = nil
      for _, head in ipairs(heads) do
        if not head.done and head.pos > #head.list then
          local want = limit - #leased
          head.off = head.off + #head.list
          head.list = redis.call('ZRANGE', head.key, head.off, head.off + want - 1)
          head.pos = 1
          if #head.list == 0 then
            head.done = true
            if head.fresh and not names then redis.call('SREM', P .. 'names:' .. q, head.name) end
          end
          head.fresh = false
        end
        if not head.done and (best == nil or omniq_member_before(head.list[head.pos], best.list[best.pos])) then best = head end
      end
      if best == nil then break end
      local m = best.list[best.pos]
      best.pos = best.pos + 1
      local id = string.sub(m, 17)
      local key = P .. 'task:' .. id
      local run_at = omniq_unbytes(m, 5, 10)
      if run_at > now then
        omniq_zrem(best.key, m)
        redis.call('HSET', key, 'rk', '')
        redis.call('ZADD', P .. 'delayed', run_at, id)
      else
        local state = redis.call('HMGET', key, 'status', 'expiresAt', 'lapses', 'attempts', 'seq')
        local status, expires = state[1], state[2]
        if not OMNIQ_WAITING[status] then
          omniq_zrem(best.key, m)
          if status and not OMNIQ_LIVE[status] and not OMNIQ_FINAL[status] then damaged[#damaged + 1] = id end
        elseif expires and tonumber(expires) and tonumber(expires) <= now then
          omniq_zrem(best.key, m)
          redis.call('HSET', key, 'rk', '')
        elseif max_lapsed < 0 or (omniq_count(state[3]) or 0) < lapsed_from or lapsed_left > 0 then
          -- (A task past the lapse limit stays in its ZSET.)
          if max_lapsed >= 0 and (omniq_count(state[3]) or 0) >= lapsed_from then lapsed_left = lapsed_left - 1 end
          lease(q, best, m, id, key, status, expires, state[4], state[5] or omniq_unbytes(m, 11, 16))
        end
      end
    end
  end
end
omniq_flush(P, scope)
return { leased, damaged, leased_ids, leased_parts }
`,
);

/**
 * ARGV: P, now, then id, token, DamagedTaskError JSON per task. Ends tasks a reserve just leased
 * but whose record cannot be read failed with the error (attempts as before the reserve), their
 * dependents left waiting; only while the lease is the reserve's. Returns how many.
 */
export const SET_ASIDE_SCRIPT = new RedisScript(
  'reserve (setting damaged tasks aside)',
  `${RECORDS_LUA}${TASK_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local count = 0
for i = 3, #ARGV, 3 do
  local t = omniq_load(P, ARGV[i])
  if t and t.status == 'running' and t.leaseToken == ARGV[i + 1] then
    local key = P .. 'task:' .. t.id
    redis.call('HINCRBY', key, 'attempts', -1)
    redis.call('HSET', key, 'lastError', ARGV[i + 2])
    omniq_finish(P, t, 'failed', now, now)
    count = count + 1
  end
end
omniq_flush(P, omniq_scope('0', '0', 0, ''))
return count
`,
);
