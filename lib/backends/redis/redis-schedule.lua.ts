/**
 * Lua for RedisScheduleStore. A schedule is HASH P..'schedule:'..id (fields: see
 * redis-schedule-record.ts), its id in SET P..'schedules', and, while it is active with a next
 * fire time, in ZSET P..'schedules:due' scored by nextRunAt. ARGV[1] is P in every script.
 */

/** Files or unfiles a schedule in the due index from its hash as it now is. */
export const SCHEDULE_DUE_LUA = `
local function omniq_schedule_due(P, id)
  local state = redis.call('HMGET', P .. 'schedule:' .. id, 'status', 'nextRunAt')
  if state[1] == 'active' and state[2] and state[2] ~= '' then
    redis.call('ZADD', P .. 'schedules:due', state[2], id)
  else
    redis.call('ZREM', P .. 'schedules:due', id)
  end
end
`;

/**
 * ARGV: P, id, mode ('any', 'absent' or 'expect'), the expected specHash, status, runCount and
 * nextRunAt ('' for none) (read with 'expect'), then the hash's field/value pairs. Replaces the
 * schedule when the stored one meets the mode; 1 when it saved.
 */
export const SAVE_SCHEDULE_LUA = `${SCHEDULE_DUE_LUA}
local P, id, mode = ARGV[1], ARGV[2], ARGV[3]
local key = P .. 'schedule:' .. id
if mode == 'absent' then
  if redis.call('EXISTS', key) == 1 then return 0 end
elseif mode == 'expect' then
  local s = redis.call('HMGET', key, 'specHash', 'status', 'runCount', 'nextRunAt')
  if not s[1] or s[1] ~= ARGV[4] or s[2] ~= ARGV[5] or s[3] ~= ARGV[6] or (s[4] or '') ~= ARGV[7] then return 0 end
end
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 8))
redis.call('SADD', P .. 'schedules', id)
omniq_schedule_due(P, id)
return 1
`;

/** ARGV: P, id. 1 when there was such a schedule. */
export const DELETE_SCHEDULE_LUA = `
local P, id = ARGV[1], ARGV[2]
redis.call('SREM', P .. 'schedules', id)
redis.call('ZREM', P .. 'schedules:due', id)
return redis.call('DEL', P .. 'schedule:' .. id)
`;

/**
 * ARGV: P, id, status, nextRunAt ('' for none), now. Sets the status unless the schedule has it;
 * returns the hash (flat) as it then is, or nil when there is no such schedule.
 */
export const SET_SCHEDULE_STATUS_LUA = `${SCHEDULE_DUE_LUA}
local P, id, status, next_run_at, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'schedule:' .. id
local current = redis.call('HGET', key, 'status')
if not current then return false end
if current ~= status then
  redis.call('HSET', key, 'status', status, 'updatedAt', now)
  if next_run_at ~= '' then redis.call('HSET', key, 'nextRunAt', next_run_at) else redis.call('HDEL', key, 'nextRunAt') end
  if status == 'paused' then redis.call('HSET', key, 'pausedAt', now) else redis.call('HDEL', key, 'pausedAt') end
  omniq_schedule_due(P, id)
end
return redis.call('HGETALL', key)
`;

/** ARGV: P, now, limit. The hashes (flat) of the due schedules, soonest first. */
export const DUE_SCHEDULES_LUA = `
local P = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'schedules:due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
  local hash = redis.call('HGETALL', P .. 'schedule:' .. id)
  if #hash > 0 then out[#out + 1] = hash end
end
return out
`;

/** ARGV: P. The hashes (flat) of every schedule. */
export const LIST_SCHEDULES_LUA = `
local P = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'schedules')) do
  local hash = redis.call('HGETALL', P .. 'schedule:' .. id)
  if #hash > 0 then out[#out + 1] = hash end
end
return out
`;

/**
 * The fire's compare-and-set and the enqueue of its task in one script; it is prefixed with
 * RECORDS_LUA, TASK_LUA (omniq_enqueue) and ENQUEUE_CHECKS_LUA by RedisScheduleStore. KEYS[1]:
 * the schedule's hash. ARGV: P, id, expected nextRunAt, now, then the advance (status, nextRunAt,
 * runCount, lastRunAt; '' for none), '1' when a task follows as its flat taskFields, else '0'.
 * Returns {'unclaimed'}, {'fail', failure…} (the enqueue checks refused the task: nothing was
 * changed) or {'claimed', enqueued id or '', 1 when it was created}.
 */
export const FIRE_SCHEDULE_LUA = `${SCHEDULE_DUE_LUA}
local P, id, now = ARGV[1], ARGV[2], tonumber(ARGV[4])
local key = P .. 'schedule:' .. id
local state = redis.call('HMGET', key, 'status', 'nextRunAt')
if state[1] ~= 'active' or state[2] ~= ARGV[3] then return { 'unclaimed' } end
local enqueued, created = false, false
if ARGV[9] == '1' then
  local fields = {}
  for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
  local failure = omniq_check_enqueue(P, { fields }, {})
  if failure then
    table.insert(failure, 1, 'fail')
    return failure
  end
  enqueued, created = omniq_enqueue(P, now, fields)
end
redis.call('HSET', key, 'status', ARGV[5], 'runCount', ARGV[7], 'updatedAt', ARGV[4])
for field, value in pairs({ nextRunAt = ARGV[6], lastRunAt = ARGV[8] }) do
  if value ~= '' then redis.call('HSET', key, field, value) else redis.call('HDEL', key, field) end
end
if enqueued then redis.call('HSET', key, 'lastTaskId', enqueued) end
omniq_schedule_due(P, id)
return { 'claimed', enqueued or '', created and 1 or 0 }
`;
