import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { ENQUEUE_CHECKS_LUA } from './redis-task-enqueue.lua.js';
import { TASK_LUA } from './redis-task.lua.js';

/**
 * ARGV: P, now, results flag, events flag, events cap, id base, outboxes ('1' when a settlement
 * of the chunk has one), then per settlement:
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
local FIRST = 8

-- Where the parts of the settlement at ARGV[i] lie: its result flag, its event count, its
-- released flag, its outbox count, and where the next settlement starts. (Settlements are read
-- in place: no table per settlement.)
local function layout(i)
  local result_at = i + 6
  local events_at = result_at + 1
  if ARGV[result_at] == '1' then events_at = result_at + 5 end
  local released_at = events_at + 1 + omniq_count(ARGV[events_at]) * 4
  local n_outbox = omniq_count(ARGV[released_at + 1])
  return result_at, events_at, released_at, n_outbox, released_at + 2 + n_outbox
end

-- The decoded outboxes by the position of their settlement, all checked before anything changes.
local outboxes = {}
if ARGV[7] == '1' then
  local all = {}
  local i = FIRST
  while i <= #ARGV do
    local _, _, released_at, n_outbox, next_i = layout(i)
    if n_outbox > 0 then
      local own = {}
      for k = 1, n_outbox do
        own[k] = cjson.decode(ARGV[released_at + 1 + k])
        all[#all + 1] = own[k]
      end
      outboxes[i] = own
    end
    i = next_i
  end
  local failure = omniq_check_enqueue(P, all, {})
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
local NO_OUTBOX = {}
local out = { 'ok' }
local i = FIRST
while i <= #ARGV do
  local result_at, events_at, released_at, _, next_i = layout(i)
  local t = omniq_load(P, ARGV[i], OMNIQ_LEASED)
  if not t or t.status ~= 'running' or t.leaseToken ~= ARGV[i + 1] then
    out[#out + 1] = 0
  else
    local outcome, error = ARGV[i + 2], ARGV[i + 4]
    if scope.results and ARGV[result_at] == '1' then
      omniq_store_result(P, ARGV[result_at + 1], t.id, ARGV[result_at + 2], ARGV[result_at + 3], ARGV[result_at + 4])
    end
    if scope.events then
      for at = events_at + 1, released_at - 1, 4 do omniq_append_event(P, ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], scope.cap) end
    end
    local ended = {}
    local final = FINAL_OUTCOME[outcome]
    if final then
      if error ~= '' then
        redis.call('HSET', P .. 'task:' .. t.id, 'lastError', error)
        t.lastError = error
      end
      -- The time as text: it goes into the hash and an index score as it came (see OMNIQ_COUNT).
      local at = ARGV[i + 3]
      if at == '' then at = ARGV[2] end
      omniq_end(P, t, final, at, now, scope, ended)
    elseif outcome == 'retry' then
      load_rest(t)
      leave_lease(t, 'retrying', ARGV[i + 5], 'lastError', error)
    else
      load_rest(t)
      if scope.events and ARGV[released_at] ~= '1' then
        omniq_append_event(P, released_event(t), t.id, t.scheduleId, now, scope.cap)
      end
      leave_lease(t, 'pending', omniq_number(now, 0), 'attempts', (tonumber(t.attempts) or 1) - 1)
    end
    local outbox = outboxes[i] or NO_OUTBOX
    if #ended == 0 and #outbox == 0 then
      out[#out + 1] = 1
    else
      local enqueued = {}
      for k, fields in ipairs(outbox) do enqueued[k] = omniq_enqueue(P, now, fields, scope) end
      out[#out + 1] = { omniq_hashes(P, ended), enqueued }
    end
  end
  i = next_i
end
omniq_flush(P, scope)
return out
`,
);
