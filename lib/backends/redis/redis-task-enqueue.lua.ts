import { RECORDS_LUA } from './redis-records.lua.js';
import { RedisScript } from './redis-scripts.js';
import { TASK_LUA } from './redis-task.lua.js';

/**
 * The enqueue checks of TaskQueueStore.enqueue over a list of decoded tasks (flat field lists),
 * changing nothing. `known`: ids of the same call stored by other chunks (they count as in the
 * call). Returns nil when all pass, else the failure: {'duplicate', id}, {'unknown', id, parent…}
 * or {'ended', id, parent, status}. omniq_check_tasks takes tasks as omniq_task_of reads them,
 * omniq_check_enqueue flat field lists.
 */
export const ENQUEUE_CHECKS_LUA = String.raw`
-- The checks over tasks as omniq_task_of reads them.
local function omniq_check_tasks(P, tasks, known)
  local in_call, keys = {}, {}
  for i, t in ipairs(tasks) do
    if in_call[t.id] then return { 'duplicate', t.id } end
    in_call[t.id] = true
    keys[i] = P .. 'task:' .. t.id
  end
  -- One EXISTS for the lot; one per task only to name the duplicate.
  local stored = 0
  for i = 1, #keys, 1000 do stored = stored + redis.call('EXISTS', unpack(keys, i, math.min(i + 999, #keys))) end
  if stored > 0 then
    for i, key in ipairs(keys) do
      if redis.call('EXISTS', key) == 1 then return { 'duplicate', tasks[i].id } end
    end
  end
  -- Which tasks a held key keeps from being created, as omniq_enqueue will decide.
  local claimed, created, not_created = {}, {}, {}
  for i, t in ipairs(tasks) do
    created[i] = true
    if t.key then
      if claimed[t.key] or redis.call('EXISTS', P .. 'key:' .. t.key) == 1 then
        created[i] = false
        not_created[t.id] = true
      else
        claimed[t.key] = true
      end
    end
  end
  for i, t in ipairs(tasks) do
    if t.dependsOn and t.dependsOn ~= '[]' then
      local unknown = { 'unknown', t.id }
      for _, parent_id in ipairs(cjson.decode(t.dependsOn)) do
        local status = redis.call('HGET', P .. 'task:' .. parent_id, 'status')
        if not status then
          -- A parent of the call that its key keeps from being created would never exist.
          if not (in_call[parent_id] or known[parent_id]) or (created[i] and not_created[parent_id]) then
            unknown[#unknown + 1] = parent_id
          end
        elseif t.onParentFailure == 'cancel' and OMNIQ_ENDED_BADLY[status] then
          return { 'ended', t.id, parent_id, status }
        end
      end
      if #unknown > 2 then return unknown end
    end
  end
  return nil
end

local function omniq_check_enqueue(P, field_lists, known)
  local tasks = {}
  for i, fields in ipairs(field_lists) do tasks[i] = omniq_task_of(fields) end
  return omniq_check_tasks(P, tasks, known)
end
`;

/**
 * ARGV: P, now, mode ('check', 'write', or 'write+deps' when a task of the whole call has
 * dependencies), n known, known ids…, then one JSON array per task (JSON.stringify(taskFields(task))).
 * Checks the tasks (see ENQUEUE_CHECKS_LUA) and, unless checking only, stores them in order. Returns {'ok', id…} (the id each task's outcome names: its own when
 * created, else the key holder's) or {'fail', failure…}.
 */
export const ENQUEUE_SCRIPT = new RedisScript(
  'enqueue',
  `${RECORDS_LUA}${TASK_LUA}${ENQUEUE_CHECKS_LUA}
local P, now = ARGV[1], tonumber(ARGV[2])
local known = {}
local n_known = tonumber(ARGV[4])
for i = 5, 4 + n_known do known[ARGV[i]] = true end
local field_lists, tasks = {}, {}
for i = 5 + n_known, #ARGV do
  local fields = cjson.decode(ARGV[i])
  field_lists[#field_lists + 1] = fields
  tasks[#tasks + 1] = omniq_task_of(fields)
end
local failure = omniq_check_tasks(P, tasks, known)
if failure then
  table.insert(failure, 1, 'fail')
  return failure
end
local out = { 'ok' }
if ARGV[3] ~= 'check' then
  local scope = omniq_scope('0', '0', 0, '')
  scope.deps = ARGV[3] == 'write+deps'
  scope.seq_last = redis.call('INCRBY', P .. 'seq', #tasks)
  scope.seq = scope.seq_last - #tasks
  for k, t in ipairs(tasks) do out[#out + 1] = omniq_enqueue(P, now, field_lists[k], scope, t) end
  omniq_flush(P, scope)
end
return out
`,
);
