/**
 * Lua for results and events: RECORDS_LUA, the local functions every script that writes either
 * starts with (the task-queue scripts prepend it too), and the scripts of the result store (the
 * event store's are in redis-records-events.lua.ts). P (ARGV[1] of every script) is the project's
 * key prefix, hash tag included.
 *
 * Keys, beside the ones RedisKeys names (whose events:task:<id> is a STRING and events:sched:<id>
 * a ZSET by stream milliseconds here, see omniq_append_event):
 *   P..'events:odd'            ZSET streamId by event timestamp of the events whose timestamp lies
 *                              more than EVENT_CLOCK_MARGIN_MS from their stream id's milliseconds
 *                              (every other event is found by its id)
 *   P..'events:odd-ids'        ZSET streamId by stream milliseconds of the same (the trim's view)
 *   P..'events:skew'           STRING: the widest distance (ms) between an event's timestamp and its
 *                              stream id's milliseconds among the others (queries read that much
 *                              beyond their bounds)
 *   P..'events:timelines'      LIST of the task ids with a timeline, in the order their timelines
 *                              began (the trim deletes the timelines whose every entry is gone)
 *   P..'events:schedules'      SET of the schedule ids with an events:sched ZSET
 *   P..'results:expiry'        ZSET taskId by expiresAt of results that have one (purgeExpired,
 *                              liveness in latestForSchedule; the key's own PXAT frees the memory
 *                              even when nobody purges)
 *   P..'results:meta'          HASH taskId → '<expiresAt>\n<scheduleId>' (either '' when absent) of
 *                              the results that have an expiry or a schedule, so a result whose key
 *                              its TTL already removed still leaves those indexes on purge
 *
 * Retention: the stream stays within `cap` (storageOptions.eventsMaxLen, which the TypeScript
 * caller passes in ARGV) plus cap/1000 entries: once per script that appended, past that, an exact
 * XTRIM drops the oldest (up to OMNIQ_TRIM_BATCH), and what named them goes by the trimmed range
 * (timelines from the head of their list, schedule members by milliseconds, off-clock entries by
 * id), so the trim never decodes an entry and costs the appends nothing until the cap is reached.
 */

/** Whether an optional argument is there: false, nil and '' all mean absent. */
const PRESENT = `
local function omniq_present(value)
  return value ~= nil and value ~= false and value ~= ''
end
`;

/** Index writes batched per script (every script that stores or deletes a result flushes them). */
const DEFERRED = `
-- Writes to the indexes that no script reads back before it ends (P..'results:done'; of the task
-- queue: the status indexes, the ready ZSETs, P..'running', P..'finished', P..'all'), per key: member → score, or false to remove it;
-- the last write of a member wins. omniq_flush_indexes (omniq_flush in TASK_LUA) applies them with one ZADD and one ZREM per key, so
-- a batch of a hundred tasks moving from running to success costs four commands, not four hundred.
-- (The bulk calls walk status indexes while they change tasks: their visitors re-read each task's
-- status. Reserve files promoted tasks, then reads the ready ZSETs: it flushes in between.)
local omniq_deferred = {}

local function omniq_zadd(key, score, member)
  local members = omniq_deferred[key]
  if not members then
    members = {}
    omniq_deferred[key] = members
  end
  members[member] = score
end

local function omniq_zrem(key, member)
  local members = omniq_deferred[key]
  if not members then
    members = {}
    omniq_deferred[key] = members
  end
  members[member] = false
end

-- RPUSHes, per list: values in order.
local omniq_pushes = {}

-- The ids of the results stored so far, each as '<length>:<id>': the flush announces them in one
-- PUBLISH on 'results' (see RedisNotifier) instead of one message per result.
local omniq_announced = {}

local function omniq_push(key, value)
  local values = omniq_pushes[key]
  if not values then
    values = {}
    omniq_pushes[key] = values
  end
  values[#values + 1] = value
end

`;

/**
 * How far an event's timestamp may lie from its stream id's time (the server's clock at the append)
 * and still be found by that id (see EVENTS): the producer's clock and the append's delay. A query
 * by time reads this much of the stream beyond its bounds; an event further off costs its append
 * two index writes.
 */
export const EVENT_CLOCK_MARGIN_MS = 1_000;

const EVENTS = `
local OMNIQ_TRIM_BATCH = 1000
local OMNIQ_MARGIN = ${EVENT_CLOCK_MARGIN_MS}

-- The milliseconds and sequence of a stream id.
local function omniq_stream_id(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end

local function omniq_id_before(a, b)
  local a_ms, a_seq = omniq_stream_id(a)
  local b_ms, b_seq = omniq_stream_id(b)
  return a_ms < b_ms or (a_ms == b_ms and a_seq < b_seq)
end

-- A task's timeline (stream ids, each followed by a space) without the ids before 'first' that
-- kept(id) does not keep (kept nil: none); '' when none is left.
local function omniq_timeline_from(timeline, first, kept)
  local at, rest = 1, ''
  while at <= #timeline do
    local space = string.find(timeline, ' ', at, true)
    if not space then break end
    local id = string.sub(timeline, at, space - 1)
    if not omniq_id_before(id, first) then return rest .. string.sub(timeline, at) end
    if kept and kept(id) then rest = rest .. id .. ' ' end
    at = space + 1
  end
  return rest
end

-- After the stream lost its entries before 'first' (nil: every entry), kept(id) naming the ones
-- it still holds (nil: none), drops what named the others: timelines from the head of
-- P..'events:timelines' (oldest first, up to 'budget' of them), the schedules' members of those
-- milliseconds and, unless kept is given (the purge sees to them), the off-clock entries.
-- Returns whether the budget ran out before the timelines did.
local function omniq_unindex_before(P, first, budget, kept)
  local list = P .. 'events:timelines'
  local heads = redis.call('LRANGE', list, 0, budget)
  local done, more = 0, #heads > budget
  for i = 1, math.min(budget, #heads) do
    local task_id = heads[i]
    local key = P .. 'events:task:' .. task_id
    local timeline = redis.call('GET', key)
    if timeline and first and not omniq_id_before(string.match(timeline, '^[^ ]+') or first, first) then
      more = false
      break
    end
    done = done + 1
    local rest = (timeline and first) and omniq_timeline_from(timeline, first, kept) or ''
    if rest == '' then
      redis.call('DEL', key)
    else
      redis.call('SET', key, rest)
      omniq_push(list, task_id)
    end
  end
  if done > 0 then redis.call('LTRIM', list, done, -1) end
  local first_ms = first and omniq_stream_id(first)
  if not kept then
    local odd = redis.call('ZRANGEBYSCORE', P .. 'events:odd-ids', '-inf', first_ms or '+inf', 'LIMIT', 0, OMNIQ_TRIM_BATCH)
    for _, id in ipairs(odd) do
      if not first or omniq_id_before(id, first) then
        redis.call('ZREM', P .. 'events:odd', id)
        redis.call('ZREM', P .. 'events:odd-ids', id)
      end
    end
  end
  for _, schedule_id in ipairs(redis.call('SMEMBERS', P .. 'events:schedules')) do
    local index = P .. 'events:sched:' .. schedule_id
    redis.call('ZREMRANGEBYSCORE', index, '-inf', first_ms and ('(' .. first_ms) or '+inf')
    if first then
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, first_ms, first_ms)) do
        if omniq_id_before(id, first) then redis.call('ZREM', index, id) end
      end
    end
    if redis.call('EXISTS', index) == 0 then redis.call('SREM', P .. 'events:schedules', schedule_id) end
  end
  return more
end

-- Keeps the stream within cap plus a thousandth: drops the oldest entries beyond cap, up to
-- OMNIQ_TRIM_BATCH at a time, with what indexes them. Runs once per script that appended.
local function omniq_trim_events(P, cap)
  local stream = P .. 'events'
  local length = redis.call('XLEN', stream)
  local excess = length - cap
  if excess < math.max(1, math.floor(cap / 1000)) then return end
  local count = math.min(excess, OMNIQ_TRIM_BATCH)
  redis.call('XTRIM', stream, 'MAXLEN', length - count)
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  -- Each entry gone pays for two timelines: the ones it emptied and the ones it only shortened.
  omniq_unindex_before(P, first and first[1], 2 * count)
end

-- Set by omniq_append_event: the flush trims the stream once for the whole script, and records
-- a larger skew.
local omniq_trim = nil

-- Appends one event (its stored JSON, timestamp ts) and returns its stream id. Its timestamp
-- is found by the id's milliseconds (XADD '*': the server's clock) when they lie within
-- OMNIQ_MARGIN of each other: P..'events:skew' holds the widest distance seen so far, which is
-- how much wider than its bounds a query reads. An event further off is indexed by timestamp in
-- P..'events:odd' (and by id in P..'events:odd-ids', for the trim). A task's timeline is a
-- string of its stream ids (APPEND); a schedule's a ZSET of them by their milliseconds
-- (off-clock ones left out: P..'events:odd' finds them).
local function omniq_append_event(P, event_json, task_id, schedule_id, ts, cap)
  local id = redis.call('XADD', P .. 'events', '*', 'e', event_json)
  local ms = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
  if not omniq_trim then
    omniq_trim = { P = P, cap = tonumber(cap), skew = tonumber(redis.call('GET', P .. 'events:skew')) or 0 }
    omniq_trim.seen = omniq_trim.skew
  end
  local skew = math.abs(tonumber(ts) - ms)
  local odd = skew > OMNIQ_MARGIN
  if not odd and skew > omniq_trim.seen then omniq_trim.seen = skew end
  if odd then
    redis.call('ZADD', P .. 'events:odd', ts, id)
    redis.call('ZADD', P .. 'events:odd-ids', ms, id)
  end
  if omniq_present(task_id) then
    local entry = id .. ' '
    if redis.call('APPEND', P .. 'events:task:' .. task_id, entry) == #entry then omniq_push(P .. 'events:timelines', task_id) end
  end
  if omniq_present(schedule_id) and not odd then
    redis.call('ZADD', P .. 'events:sched:' .. schedule_id, ms, id)
    redis.call('SADD', P .. 'events:schedules', schedule_id)
  end
  return id
end
`;

/** omniq_flush_indexes: every script that appends events or stores or deletes results ends with it (TASK_LUA's omniq_flush calls it). */
const FLUSH = `
local function omniq_apply_deferred()
  for key, members in pairs(omniq_deferred) do
    local added, removed = {}, {}
    for member, score in pairs(members) do
      if score then
        added[#added + 1] = score
        added[#added + 1] = member
      else
        removed[#removed + 1] = member
      end
    end
    -- unpack takes some thousands of values at most.
    for i = 1, #added, 2000 do redis.call('ZADD', key, unpack(added, i, math.min(i + 1999, #added))) end
    for i = 1, #removed, 1000 do redis.call('ZREM', key, unpack(removed, i, math.min(i + 999, #removed))) end
  end
  omniq_deferred = {}
  for key, values in pairs(omniq_pushes) do
    for i = 1, #values, 1000 do redis.call('RPUSH', key, unpack(values, i, math.min(i + 999, #values))) end
  end
  omniq_pushes = {}
  if #omniq_announced > 0 then
    redis.call('PUBLISH', omniq_announced.channel, 'results\\n' .. table.concat(omniq_announced))
    omniq_announced = {}
  end
end

-- Applies the deferred writes, then trims the events stream when the script appended events.
local function omniq_flush_indexes()
  omniq_apply_deferred()
  if omniq_trim then
    local trim = omniq_trim
    omniq_trim = nil
    if trim.seen > trim.skew then redis.call('SET', trim.P .. 'events:skew', trim.seen) end
    omniq_trim_events(trim.P, trim.cap)
    omniq_apply_deferred()
  end
end

`;

const RESULTS = `
-- PUBLISH on the project's channel: '<channel>\\n<message>' (see RedisNotifier).
local function omniq_publish(P, channel, message)
  redis.call('PUBLISH', P .. 'notify', channel .. '\\n' .. message)
end

-- Whether P..'results:meta' may hold entries (read once per script: while no result has an expiry
-- or a schedule, storing one looks at nothing more).
local omniq_any_meta = nil

-- The cleanup a task's stored result needs besides its key (whose TTL may have removed it
-- already): its expiry and schedule, '' for none; nil when it has neither (no entry in
-- P..'results:meta', so storing or deleting such a result looks at nothing more).
local function omniq_result_meta(P, task_id)
  if omniq_any_meta == nil then omniq_any_meta = redis.call('EXISTS', P .. 'results:meta') == 1 end
  if not omniq_any_meta then return nil, nil end
  local meta = redis.call('HGET', P .. 'results:meta', task_id)
  if not meta then return nil, nil end
  local cut = string.find(meta, '\\n', 1, true)
  return string.sub(meta, 1, cut - 1), string.sub(meta, cut + 1)
end

-- Stores (or replaces) a task's result and announces it at the flush: callers publish nothing more.
-- schedule_id and expires_at may be false or '' when absent.
local function omniq_store_result(P, result_json, task_id, schedule_id, completed_at, expires_at)
  local key = P .. 'result:' .. task_id
  local has_expiry, has_schedule = omniq_present(expires_at), omniq_present(schedule_id)
  local old_expiry, old_schedule = omniq_result_meta(P, task_id)
  if omniq_present(old_schedule) and old_schedule ~= schedule_id then redis.call('ZREM', P .. 'results:sched:' .. old_schedule, task_id) end
  if has_expiry then
    -- A time already past deletes the key at once: the expiry index still lets purgeExpired count it.
    redis.call('SET', key, result_json, 'PXAT', expires_at)
    redis.call('ZADD', P .. 'results:expiry', expires_at, task_id)
  else
    redis.call('SET', key, result_json)
    if omniq_present(old_expiry) then redis.call('ZREM', P .. 'results:expiry', task_id) end
  end
  omniq_zadd(P .. 'results:done', completed_at, task_id)
  if has_schedule then redis.call('ZADD', P .. 'results:sched:' .. schedule_id, completed_at, task_id) end
  if has_expiry or has_schedule then
    redis.call('HSET', P .. 'results:meta', task_id, (has_expiry and expires_at or '') .. '\\n' .. (has_schedule and schedule_id or ''))
    omniq_any_meta = true
  elseif old_expiry then
    redis.call('HDEL', P .. 'results:meta', task_id)
  end
  omniq_announced.channel = P .. 'notify'
  omniq_announced[#omniq_announced + 1] = #task_id .. ':' .. task_id
end

-- Deletes a task's result and its index entries; 1 when its key was there, else 0.
local function omniq_delete_result(P, task_id)
  local existed = redis.call('DEL', P .. 'result:' .. task_id)
  omniq_zrem(P .. 'results:done', task_id)
  local old_expiry, old_schedule = omniq_result_meta(P, task_id)
  if old_expiry then
    if old_expiry ~= '' then redis.call('ZREM', P .. 'results:expiry', task_id) end
    if old_schedule ~= '' then redis.call('ZREM', P .. 'results:sched:' .. old_schedule, task_id) end
    redis.call('HDEL', P .. 'results:meta', task_id)
  end
  return existed
end
`;

/**
 * omniq_present(value), omniq_append_event(P, event_json, task_id, schedule_id, ts, cap) → stream
 * id, omniq_store_result(P, result_json, task_id, schedule_id, completed_at, expires_at) (announced
 * on `results` by the flush), omniq_delete_result(P, task_id) → 0/1, omniq_publish(P, channel, message);
 * omniq_zadd(key, score, member), omniq_zrem(key, member), omniq_push(key, value): writes held
 * until omniq_flush_indexes(), which every script that appends events or stores or deletes
 * results calls before it returns (the task scripts through omniq_flush).
 */
export const RECORDS_LUA = PRESENT + DEFERRED + EVENTS + FLUSH + RESULTS;

/** ARGV: P, then json, taskId, scheduleId, completedAt, expiresAt ('' when absent) per result. */
export const PUT_RESULTS_LUA = `${RECORDS_LUA}
local P = ARGV[1]
for i = 2, #ARGV, 5 do
  omniq_store_result(P, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
end
omniq_flush_indexes()
return 0
`;

/** ARGV: P, taskId. */
export const DELETE_RESULT_LUA = `${RECORDS_LUA}
local existed = omniq_delete_result(ARGV[1], ARGV[2])
omniq_flush_indexes()
return existed
`;

/** ARGV: P, index suffix ('expiry' or 'done'), highest score (inclusive, or '(' exclusive), limit. How many it deleted. */
export const PURGE_RESULTS_LUA = `${RECORDS_LUA}
local P = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', P .. 'results:' .. ARGV[2], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do omniq_delete_result(P, id) end
omniq_flush_indexes()
return #ids
`;

/**
 * ARGV: P, scheduleId, now (epoch ms). The JSON of the schedule's most recently completed result
 * that is live (not expired at now, its key still there), or nil.
 */
export const LATEST_RESULT_LUA = `
local P, now = ARGV[1], tonumber(ARGV[3])
local index = P .. 'results:sched:' .. ARGV[2]
local offset = 0
while true do
  local ids = redis.call('ZREVRANGE', index, offset, offset + 99)
  if #ids == 0 then return false end
  for _, id in ipairs(ids) do
    local expires = redis.call('ZSCORE', P .. 'results:expiry', id)
    if not expires or tonumber(expires) > now then
      local json = redis.call('GET', P .. 'result:' .. id)
      if json then return json end
    end
  end
  offset = offset + #ids
end
`;
