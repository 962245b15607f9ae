import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { ENQUEUE_CHECKS_LUA } from './redis-task-enqueue.lua.js';
import { TASK_LUA } from './redis-task.lua.js';

/**
 * ARGV: P, now, results flag, events flag, events cap, id base, then per settlement:
 *   id, token, outcome, at ('' = now), error JSON (''), retryAt (''),
 *   n results (0/1), [result JSON, scheduleId, completedAt, expiresAt ('')],
 *   n events, [event JSON, taskId, scheduleId, timestamp]…,
 *   released event given ('1'/''), n outbox tasks, [task JSON]….
 *
 * Checks every outbox of the chunk first (a failure changes nothing: {'fail', failure…}). Then
 * each settlement in one step: nothing at all unless the token is the task's live lease; else the
 * result and events (as the flags say), the task's change with its cascade, the outbox. Returns
 * {'ok', report…}, a report being 0 (not held), 1 (held, nothing ended or enqueued) or
 * {hashes of the dependents it cancelled, ids the outbox tasks' outcomes name}.
 */
export const SETTLE_SCRIPT = new RedisScript(
  'settle',
  `${RECORDS_LUA}${TASK_LUA}${ENQUEUE_CHECKS_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local scope = omniq_scope(ARGV[3], ARGV[4], ARGV[5], ARGV[6])
local entries, outboxes = {}, {}
local i = 7
while i <= #ARGV do
  local e = { id = ARGV[i], token = ARGV[i + 1], outcome = ARGV[i + 2], at = tonumber(ARGV[i + 3]) or now,
    error = ARGV[i + 4], retry_at = ARGV[i + 5] }
  i = i + 6
  if ARGV[i] == '1' then
    e.result = { ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4] }
    i = i + 5
  else
    i = i + 1
  end
  local n_events = tonumber(ARGV[i])
  e.events = {}
  for k = 1, n_events do
    local at = i + 1 + (k - 1) * 4
    e.events[k] = { ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3] }
  end
  i = i + 1 + n_events * 4
  e.released_given = ARGV[i] == '1'
  local n_outbox = tonumber(ARGV[i + 1])
  e.outbox = {}
  for k = 1, n_outbox do
    local fields = cjson.decode(ARGV[i + 1 + k])
    e.outbox[k] = fields
    outboxes[#outboxes + 1] = fields
  end
  i = i + 2 + n_outbox
  entries[#entries + 1] = e
end

if #outboxes > 0 then
  local failure = omniq_check_enqueue(P, outboxes, {})
  if failure then
    table.insert(failure, 1, 'fail')
    return failure
  end
end

local function released_event(t)
  return '{"id":"' .. omniq_new_id(scope) .. '","type":"released","timestamp":' .. omniq_number(now, 0) ..
    ',"taskId":' .. cjson.encode(t.id) .. ',"taskName":' .. cjson.encode(t.name) .. ',"queue":' .. cjson.encode(t.queue) ..
    omniq_json_field('scheduleId', t.scheduleId) .. omniq_json_field('workerId', t.workerId) ..
    ',"attempt":' .. omniq_number(t.attempts, 0) .. ',"message":"Released at worker shutdown; the attempt does not count"}'
end

-- Reads what filing the task again needs beyond OMNIQ_LEASED.
local function load_rest(t)
  local values = redis.call('HMGET', P .. 'task:' .. t.id, 'priority', 'runAt', 'expiresAt', 'scheduleId', 'workerId', 'attempts')
  t.priority, t.runAt, t.expiresAt, t.scheduleId, t.workerId, t.attempts = values[1], values[2], values[3], values[4], values[5], values[6]
end

-- Ends the lease without ending the task (retry, release) and files it to wait again.
local function leave_lease(t, status, run_at, ...)
  omniq_zrem(P .. 'running', t.id)
  t.runAt = run_at
  omniq_set_status(P, t, status, 'runAt', run_at, 'updatedAt', now, 'workerId', '', 'leaseToken', '', 'leaseExpiresAt', '', ...)
  omniq_file(P, t, now, scope)
end

local FINAL_OUTCOME = { success = 'success', failed = 'failed', cancelled = 'cancelled' }
local out = { 'ok' }
for _, e in ipairs(entries) do
  local t = omniq_load(P, e.id, OMNIQ_LEASED)
  if not t or t.status ~= 'running' or t.leaseToken ~= e.token then
    out[#out + 1] = 0
  else
    local key = P .. 'task:' .. t.id
    if scope.results and e.result then omniq_store_result(P, e.result[1], t.id, e.result[2], e.result[3], e.result[4]) end
    if scope.events then
      for _, event in ipairs(e.events) do omniq_append_event(P, event[1], event[2], event[3], event[4], scope.cap) end
    end
    local ended = {}
    local final = FINAL_OUTCOME[e.outcome]
    if final then
      if e.error ~= '' then
        redis.call('HSET', key, 'lastError', e.error)
        t.lastError = e.error
      end
      omniq_end(P, t, final, e.at, now, scope, ended)
    elseif e.outcome == 'retry' then
      load_rest(t)
      leave_lease(t, 'retrying', e.retry_at, 'lastError', e.error)
    else
      load_rest(t)
      if scope.events and not e.released_given then
        omniq_append_event(P, released_event(t), t.id, t.scheduleId, now, scope.cap)
      end
      leave_lease(t, 'pending', omniq_number(now, 0), 'attempts', (tonumber(t.attempts) or 1) - 1)
    end
    if #ended == 0 and #e.outbox == 0 then
      out[#out + 1] = 1
    else
      local enqueued = {}
      for k, fields in ipairs(e.outbox) do enqueued[k] = omniq_enqueue(P, now, fields, scope) end
      out[#out + 1] = { omniq_hashes(P, ended), enqueued }
    end
  end
end
omniq_flush(P, scope)
return out
`,
);
