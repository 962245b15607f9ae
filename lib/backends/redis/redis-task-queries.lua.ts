import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { SELECT_LUA } from './redis-task-select.lua.js';
import { TASK_LUA } from './redis-task.lua.js';

/** ARGV: P, ids…. The hashes of the tasks, in order ({} for an unknown id). */
export const READ_SCRIPT = new RedisScript(
  'read tasks',
  `
local P = ARGV[1]
local out = {}
for i = 2, #ARGV do out[i - 1] = redis.call('HGETALL', P .. 'task:' .. ARGV[i]) end
return out
`,
);

/** ARGV: P, ids…. The ids of those running with a cancel request. */
export const CANCEL_REQUESTED_SCRIPT = new RedisScript(
  'cancelRequested',
  `
local P = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local values = redis.call('HMGET', P .. 'task:' .. ARGV[i], 'status', 'cancelRequestedAt')
  if values[1] == 'running' and values[2] then out[#out + 1] = ARGV[i] end
end
return out
`,
);

/**
 * ARGV: P, after seq (0: from the start), offset, limit, selector. Returns {total, more 0/1, last
 * seq, hashes…}: total from the sizes of the status indexes walked (every matching task, before
 * the cursor too), then the page.
 */
export const LIST_SCRIPT = new RedisScript(
  'list',
  `${RECORDS_LUA}${TASK_LUA}${SELECT_LUA}
local P, after, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sources = omniq_sources(P, omniq_selector(5), nil)
local total = 0
for _, source in ipairs(sources) do total = total + redis.call('ZCARD', source) end
local skipped, items, more, last = 0, {}, 0, 0
omniq_scan(sources, after, function(id, seq)
  if skipped < offset then
    skipped = skipped + 1
    return true
  end
  if #items >= limit then
    more = 1
    return false
  end
  items[#items + 1] = omniq_hash(P, id)
  last = seq
  return true
end)
local out = { total, more, last }
for _, hash in ipairs(items) do out[#out + 1] = hash end
return out
`,
);

/** ARGV: P. {queue, status, count, …} for every non-empty status index (a queue once per task name). */
export const COUNTS_SCRIPT = new RedisScript(
  'counts',
  `${RECORDS_LUA}${TASK_LUA}
local P = ARGV[1]
local out = {}
for _, kind in ipairs(redis.call('HKEYS', P .. 'counts')) do
  local queue, name = string.match(kind, '^([^\\n]*)\\n(.*)$')
  if queue then
    for _, status in ipairs(OMNIQ_STATUSES) do
      local count = redis.call('ZCARD', omniq_status_key(P, queue, name, status))
      if count > 0 then
        out[#out + 1] = queue
        out[#out + 1] = status
        out[#out + 1] = count
      end
    end
  end
end
return out
`,
);

/** ARGV: P, now, leaseMs, then id, token per lease. 1 for each lease still held (and pushed to now + leaseMs), else 0. */
export const EXTEND_SCRIPT = new RedisScript(
  'extendLeases',
  `
local P, now = ARGV[1], tonumber(ARGV[2])
local expires = now + tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV, 2 do
  local key = P .. 'task:' .. ARGV[i]
  local values = redis.call('HMGET', key, 'status', 'leaseToken')
  if values[1] == 'running' and values[2] == ARGV[i + 1] then
    redis.call('HSET', key, 'leaseExpiresAt', string.format('%d', expires), 'updatedAt', string.format('%d', now))
    redis.call('ZADD', P .. 'running', expires, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`,
);

/** ARGV: P, now, id, token, progress JSON ('' clears it). 1 when the lease is held (and the progress stored), else 0. */
export const PROGRESS_SCRIPT = new RedisScript(
  'setProgress',
  `
local key = ARGV[1] .. 'task:' .. ARGV[3]
local values = redis.call('HMGET', key, 'status', 'leaseToken')
if values[1] ~= 'running' or values[2] ~= ARGV[4] then return 0 end
redis.call('HSET', key, 'progress', ARGV[5], 'updatedAt', ARGV[2])
if ARGV[5] == '' then redis.call('HDEL', key, 'progress') end
return 1
`,
);

/** ARGV: P, now, queue. 1 when this call paused it (and told control listeners), else 0. */
export const PAUSE_SCRIPT = new RedisScript(
  'pauseQueue',
  `${RECORDS_LUA}
local P = ARGV[1]
if redis.call('HSETNX', P .. 'paused', ARGV[3], ARGV[2]) == 0 then return 0 end
omniq_publish(P, 'control', 'pause:' .. ARGV[3])
return 1
`,
);

/** ARGV: P, queue. 1 when this call resumed it (and told control listeners, and woke the queue), else 0. */
export const RESUME_SCRIPT = new RedisScript(
  'resumeQueue',
  `${RECORDS_LUA}
local P = ARGV[1]
if redis.call('HDEL', P .. 'paused', ARGV[2]) == 0 then return 0 end
omniq_publish(P, 'control', 'resume:' .. ARGV[2])
omniq_publish(P, 'wake', ARGV[2])
return 1
`,
);
