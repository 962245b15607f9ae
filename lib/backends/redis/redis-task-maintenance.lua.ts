import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { TASK_LUA } from './redis-task.lua.js';

const HEAD = `${RECORDS_LUA}${TASK_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local scope = omniq_scope(ARGV[3], ARGV[4], ARGV[5], ARGV[6])
`;

/** ARGV: P, now, limit. The hashes of up to limit running tasks whose lease expired by now, soonest first. */
export const LAPSED_SCRIPT = new RedisScript(
  'reclaimLapsed (reading lapsed leases)',
  `${RECORDS_LUA}${TASK_LUA}
local P = ARGV[1]
return omniq_hashes(P, redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3]))
`,
);

/**
 * ARGV: head, then id, lease token, `reclaimed` event JSON, dead-letter error JSON ('' unless
 * this lapse is the last) per task read by LAPSED_SCRIPT. Each task changes only while it still
 * runs under that lease and the lease expired by now: its lapse is counted and its `reclaimed`
 * event written (scope.events); then it waits again (retrying until a later runAt, else pending),
 * or, at its last lapse, ends failed with its unrun outcome and cascade.
 * Returns {hashes of the tasks reclaimed, hashes of the dependents the dead letters cancelled}.
 */
export const RECLAIM_SCRIPT = new RedisScript(
  'reclaimLapsed',
  `${HEAD}
local reclaimed, ended = {}, {}
for i = 7, #ARGV, 4 do
  local t = omniq_load(P, ARGV[i])
  if t and t.status == 'running' and t.leaseToken == ARGV[i + 1] and (tonumber(t.leaseExpiresAt) or 0) <= now then
    local key = P .. 'task:' .. t.id
    if scope.events then omniq_append_event(P, ARGV[i + 2], t.id, t.scheduleId, now, scope.cap) end
    t.lapses = redis.call('HINCRBY', key, 'lapses', 1)
    if ARGV[i + 3] == '' then
      omniq_zrem(P .. 'running', t.id)
      local status = 'pending'
      if (tonumber(t.runAt) or 0) > now then status = 'retrying' end
      omniq_set_status(P, t, status, 'updatedAt', now, 'workerId', '', 'leaseToken', '', 'leaseExpiresAt', '')
      omniq_file(P, t, now, scope)
    else
      t.lastError = ARGV[i + 3]
      redis.call('HSET', key, 'lastError', t.lastError)
      omniq_finish(P, t, 'failed', now, now)
      omniq_write_unrun(P, t, now, scope)
      if t.kids then omniq_cascade(P, t, now, scope, ended) end
    end
    reclaimed[#reclaimed + 1] = t.id
  end
end
omniq_flush(P, scope)
return { omniq_hashes(P, reclaimed), omniq_hashes(P, ended) }
`,
);

/** ARGV: P, now, limit. Moves up to limit delayed tasks due by now to pending, waking their queues; how many. */
export const PROMOTE_SCRIPT = new RedisScript(
  'promoteDue',
  `${RECORDS_LUA}${TASK_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local scope = omniq_scope('0', '0', 0, '')
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', id)
  local t = omniq_load(P, id)
  if t and OMNIQ_WAITING[t.status] and (tonumber(t.unmet) or 0) == 0 then
    if t.status ~= 'pending' then omniq_set_status(P, t, 'pending', 'updatedAt', now) end
    omniq_file(P, t, now, scope)
  end
end
omniq_flush(P, scope)
return #due
`,
);

/** ARGV: head, limit. Ends as expired up to limit waiting tasks whose expiresAt passed, with their cascades; the hashes of all it ended. */
export const EXPIRE_SCRIPT = new RedisScript(
  'expireOverdue',
  `${HEAD}
local ended = {}
local expired = 0
local limit = tonumber(ARGV[7])
while expired < limit do
  local due = redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', now, 'LIMIT', 0, limit - expired)
  if #due == 0 then break end
  for _, id in ipairs(due) do
    redis.call('ZREM', P .. 'expiry', id)
    local t = omniq_load(P, id)
    if t and OMNIQ_WAITING[t.status] then
      omniq_end_unrun(P, t, 'expired', now, scope, ended)
      expired = expired + 1
    end
  end
end
omniq_flush(P, scope)
return omniq_hashes(P, ended)
`,
);

/** ARGV: P, before (exclusive), limit. Deletes up to limit final tasks completed before it, with their index entries; how many. */
export const PURGE_SCRIPT = new RedisScript(
  'purgeFinished',
  `${RECORDS_LUA}${TASK_LUA}
local P = ARGV[1]
local purged = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'finished', '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])) do
  redis.call('ZREM', P .. 'finished', id)
  local t = omniq_load(P, id)
  if t and OMNIQ_FINAL[t.status] then
    redis.call('ZREM', omniq_status_key(P, t.queue, t.name, t.status), id)
    redis.call('ZREM', P .. 'all', id)
    if t.key and redis.call('GET', P .. 'key:' .. t.key) == id then redis.call('DEL', P .. 'key:' .. t.key) end
    redis.call('DEL', P .. 'task:' .. id, P .. 'victims:' .. id, P .. 'deps:' .. id)
    purged = purged + 1
  end
end
return purged
`,
);
