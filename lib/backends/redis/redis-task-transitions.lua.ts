import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { SELECT_LUA } from './redis-task-select.lua.js';
import { TASK_LUA } from './redis-task.lua.js';

/** Requeue and cancel, on top of TASK_LUA. */
const TRANSITIONS_LUA = String.raw`
-- Sends an ended task back to waiting with 'status' (requeue, or a dependent it revives): a fresh
-- TTL, its key held again unless a live task holds it, waiting again for the parents that have not
-- ended as it needs; its result deleted with scope.results.
local function omniq_rewait(P, t, status, now, scope)
  local key = P .. 'task:' .. t.id
  omniq_zrem(P .. 'finished', t.id)
  omniq_set_status(P, t, status, 'updatedAt', now)
  redis.call('HDEL', key, 'completedAt', 'cancelledBy')
  t.completedAt, t.cancelledBy = false, false
  if t.ttlMs then
    t.expiresAt = now + tonumber(t.ttlMs)
    redis.call('HSET', key, 'expiresAt', omniq_number(t.expiresAt, 0))
  end
  if t.key then
    local held = P .. 'key:' .. t.key
    local holder = redis.call('GET', held)
    if holder ~= t.id then
      local holder_status = holder and redis.call('HGET', P .. 'task:' .. holder, 'status')
      if not (holder_status and OMNIQ_LIVE[holder_status]) then redis.call('SET', held, t.id) end
    else
      redis.call('PERSIST', held)
    end
  end
  omniq_wait_for_parents(P, t, false)
  omniq_file(P, t, now, scope)
  if scope.results then omniq_delete_result(P, t.id) end
end

-- Requeues a failed, cancelled or expired task and revives the dependents its end cancelled,
-- transitively; returns whether it changed it, and appends the revived ids to revived.
local function omniq_requeue(P, t, now, scope, revived)
  if not OMNIQ_ENDED_BADLY[t.status] then return false end
  local key = P .. 'task:' .. t.id
  redis.call('HSET', key, 'attempts', 0, 'lapses', 0, 'runAt', omniq_number(now, 0))
  redis.call('HDEL', key, 'startedAt', 'cancelRequestedAt')
  t.attempts, t.lapses, t.runAt = 0, 0, now
  omniq_rewait(P, t, 'pending', now, scope)
  local parents = { t }
  local next_parent = 1
  while next_parent <= #parents do
    local parent = parents[next_parent]
    next_parent = next_parent + 1
    local victims = P .. 'victims:' .. parent.id
    for _, child_id in ipairs(redis.call('SMEMBERS', victims)) do
      local child = omniq_load(P, child_id)
      if child and child.status == 'cancelled' and child.cancelledBy == parent.id then
        redis.call('HDEL', P .. 'task:' .. child_id, 'lastError')
        child.lastError = false
        local status = 'pending'
        if (tonumber(child.runAt) or 0) > now then status = 'scheduled' end
        omniq_rewait(P, child, status, now, scope)
        revived[#revived + 1] = child_id
        parents[#parents + 1] = child
      end
    end
    redis.call('DEL', victims)
  end
  return true
end

-- Cancels a waiting task with its dependents (their ids appended to ended), or asks the holder of
-- a running one to stop; returns whether it changed anything.
local function omniq_cancel(P, t, error_json, now, scope, ended)
  if OMNIQ_WAITING[t.status] then
    t.lastError = error_json
    redis.call('HSET', P .. 'task:' .. t.id, 'lastError', error_json)
    omniq_end_unrun(P, t, 'cancelled', now, scope, ended)
    return true
  end
  if t.status ~= 'running' or t.cancelRequestedAt then return false end
  redis.call('HSET', P .. 'task:' .. t.id, 'cancelRequestedAt', omniq_number(now, 0), 'updatedAt', omniq_number(now, 0))
  t.cancelRequestedAt = now
  omniq_publish(P, 'control', 'cancel:' .. t.id)
  return true
end

`;

/** Every transition script starts with ARGV: P, now, results flag, events flag, events cap, id base. */
const HEAD = `${RECORDS_LUA}${TASK_LUA}${TRANSITIONS_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local scope = omniq_scope(ARGV[3], ARGV[4], ARGV[5], ARGV[6])
`;

/** ARGV: head, id, error JSON. Returns false for an unknown id, else {changed 0/1, hash, hashes of what it ended}. */
export const CANCEL_SCRIPT = new RedisScript(
  'cancel',
  `${HEAD}
local t = omniq_load(P, ARGV[7])
if not t then return false end
local ended = {}
local changed = omniq_cancel(P, t, ARGV[8], now, scope, ended)
omniq_flush(P, scope)
return { changed and 1 or 0, omniq_hash(P, t.id), omniq_hashes(P, ended) }
`,
);

/** ARGV: head, id. Returns false for an unknown id, else {changed 0/1, hash, hashes of the revived dependents}. */
export const REQUEUE_SCRIPT = new RedisScript(
  'requeue',
  `${HEAD}
local t = omniq_load(P, ARGV[7])
if not t then return false end
local revived = {}
local changed = omniq_requeue(P, t, now, scope, revived)
omniq_flush(P, scope)
return { changed and 1 or 0, omniq_hash(P, t.id), omniq_hashes(P, revived) }
`,
);

/** ARGV: head, limit, error JSON, selector. Returns {how many it changed, hashes of what it ended}. */
export const CANCEL_WHERE_SCRIPT = new RedisScript(
  'cancelWhere',
  `${HEAD}${SELECT_LUA}
local limit, error_json = tonumber(ARGV[7]), ARGV[8]
local selector = omniq_selector(9)
local sources, among = omniq_sources(P, selector, { 'pending', 'scheduled', 'running', 'retrying' })
local changed, ended = 0, {}
omniq_scan(sources, 0, function(id)
  if changed >= limit then return false end
  local t = omniq_load(P, id)
  if t and among[t.status] and omniq_cancel(P, t, error_json, now, scope, ended) then changed = changed + 1 end
  return changed < limit
end)
omniq_flush(P, scope)
return { changed, omniq_hashes(P, ended) }
`,
);

/** ARGV: head, limit, selector. Returns the hashes of the tasks it requeued (revived dependents not included). */
export const REQUEUE_WHERE_SCRIPT = new RedisScript(
  'requeueWhere',
  `${HEAD}${SELECT_LUA}
local limit = tonumber(ARGV[7])
local selector = omniq_selector(8)
local sources, among = omniq_sources(P, selector, { 'failed', 'cancelled', 'expired' })
local requeued = {}
omniq_scan(sources, 0, function(id)
  if #requeued >= limit then return false end
  local t = omniq_load(P, id)
  if t and among[t.status] and omniq_requeue(P, t, now, scope, {}) then requeued[#requeued + 1] = id end
  return #requeued < limit
end)
omniq_flush(P, scope)
return omniq_hashes(P, requeued)
`,
);
