/**
 * TASK_LUA: the local functions every task-queue script is made of (the schedule fire script
 * too, for `omniq_enqueue`). It needs RECORDS_LUA (redis-records.lua.ts) before it: scripts are
 * `RECORDS_LUA + TASK_LUA + body`. P (ARGV[1] of every script) is the project's key prefix.
 *
 * Keys of the task queue, beside those RedisKeys names (see redis-task-record.ts for the hash):
 *   P..'ready:'..queue..'\n'..name   ZSET, score 0, of the due, unblocked pending tasks of one
 *                              queue and task name. Members sort by bytes as <4 bytes:
 *                              2^31-1-priority><6 bytes: runAt><6 bytes: seq><id> (big-endian
 *                              binary, so the member, and with it the whole hash, stays within
 *                              Redis's compact encodings: 16 + 36 bytes ≤ 64), so
 *                              ZRANGE 0 n is priority (higher first), runAt, enqueue order; reserve
 *                              merges the heads of the names it serves, so a name filter never
 *                              scans other names' tasks. (One ZSET per queue, as first planned,
 *                              would make a worker that serves some names walk over all others.)
 *   P..'names:'..queue          SET of the task names with a ready ZSET in the queue
 *   P..'status:'..queue..'\n'..name..'\n'..status   ZSET id by seq: the tasks of one queue and name
 *                              in one status. Its ZCARD is their count, so no transition keeps a
 *                              counter: lists, totals, counts() and the bulk calls read these.
 *   P..'counts'                 HASH queue..'\n'..name → '1': every queue and task name that has
 *                              tasks (the status indexes to look at; the notifier reads the queues
 *                              from it after a lost subscription)
 *   P..'victims:'..parentId     SET of the dependents the parent's end cancelled (requeue revives them)
 * A waiting task sits in exactly one of: its ready ZSET (due, unblocked, pending), P..'delayed'
 * (unblocked, not yet due or scheduled/retrying), or nowhere (blocked: `unmet` > 0, listed in
 * P..'deps:'..parent for each parent it waits for); and in P..'expiry' when it has an expiresAt.
 * A running task is in P..'running'; a final one in P..'finished'. A task whose dependents ever
 * waited for it has `kids` set, so ending the others costs no look at P..'deps:'..id.
 *
 * A scope table passed along transitions: { results = bool, events = bool, cap = eventsMaxLen,
 * base = a fresh UUID from TypeScript (ids of the events Lua builds), n = 0, wakes = {}, deps =
 * whether tasks of the call may wait for tasks stored after them }. Every script that changes
 * tasks ends with omniq_flush(P, scope).
 */
export const TASK_LUA = String.raw`
local OMNIQ_WAITING = { pending = true, scheduled = true, retrying = true }
local OMNIQ_LIVE = { pending = true, scheduled = true, running = true, retrying = true }
local OMNIQ_FINAL = { success = true, failed = true, cancelled = true, expired = true }
local OMNIQ_ENDED_BADLY = { failed = true, cancelled = true, expired = true }
local OMNIQ_STATE = { 'queue', 'name', 'status', 'priority', 'runAt', 'seq', 'expiresAt', 'ttlMs', 'key',
  'dedupeWindowMs', 'unmet', 'dependsOn', 'onParentFailure', 'rk', 'storeResult', 'resultTtlMs', 'scheduleId',
  'createdAt', 'attempts', 'lapses', 'workerId', 'leaseToken', 'leaseExpiresAt', 'lastError', 'cancelRequestedAt',
  'completedAt', 'cancelledBy', 'kids' }

-- A number handed to redis.call is formatted with '%.17g' and tonumber parses with strtod, each
-- costing more than the table lookup of a small count (attempts, lapses, unmet, list lengths)
-- that these do instead, with the general case as the fallback.
local OMNIQ_COUNT = { ['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5, ['6'] = 6, ['7'] = 7, ['8'] = 8, ['9'] = 9 }
local OMNIQ_COUNT_TEXT = { [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9' }

local function omniq_count(text)
  return OMNIQ_COUNT[text] or tonumber(text)
end

local function omniq_count_text(n)
  return OMNIQ_COUNT_TEXT[n] or string.format('%d', n)
end

-- What ending a running task reads (HMGET costs by the field on a small hash): omniq_finish reads
-- dedupeWindowMs itself when the task has a key; a settle that files the task again reads the rest.
local OMNIQ_LEASED = { 'queue', 'name', 'status', 'seq', 'key', 'unmet', 'leaseToken', 'kids' }

-- The fields transitions read (never the payload; 'fields' a subset of OMNIQ_STATE holding 'seq'),
-- as a table with id; nil when there is no such task.
local function omniq_load(P, id, fields)
  fields = fields or OMNIQ_STATE
  local values = redis.call('HMGET', P .. 'task:' .. id, unpack(fields))
  local t = { id = id }
  for i, field in ipairs(fields) do t[field] = values[i] end
  if not t.seq then return nil end
  return t
end

local function omniq_hash(P, id)
  return redis.call('HGETALL', P .. 'task:' .. id)
end

-- The hashes of ids, in order (HGETALL replies; {} for a task that is gone).
local function omniq_hashes(P, ids)
  local out = {}
  for i, id in ipairs(ids) do out[i] = omniq_hash(P, id) end
  return out
end

local OMNIQ_STATUSES = { 'pending', 'scheduled', 'running', 'retrying', 'success', 'failed', 'cancelled', 'expired' }

-- t[a][b], made an empty table when missing (memos of one script: a batch mostly shares its
-- queue and task name, so their key names are built once).
local function omniq_memo(t, a, b)
  local of_a = t[a]
  if not of_a then
    of_a = {}
    t[a] = of_a
  end
  local of_b = of_a[b]
  if not of_b then
    of_b = {}
    of_a[b] = of_b
  end
  return of_b
end

-- Sets written once per script whatever the number of tasks (kinds in P..'counts', names of queues).
local omniq_registered = {}

local function omniq_register(command, key, field, value)
  local seen = omniq_memo(omniq_registered, key, field)
  if seen.done then return end
  seen.done = true
  if value then redis.call(command, key, field, value) else redis.call(command, key, field) end
end

local omniq_kind_keys = {}

-- The index of a queue's tasks of one name in one status (ZSET id by seq); its ZCARD is their count.
local function omniq_status_key(P, queue, name, status)
  local keys = omniq_memo(omniq_kind_keys, queue, name)
  local key = keys[status]
  if not key then
    key = P .. 'status:' .. queue .. '\n' .. name .. '\n' .. status
    keys[status] = key
  end
  return key
end

-- Moves the task to another status: its status index and the hash, where the other fields given
-- (name, value, …) are written in the same HSET.
local function omniq_set_status(P, t, status, ...)
  local old = t.status
  if old ~= status then
    if old then omniq_zrem(omniq_status_key(P, t.queue, t.name, old), t.id) end
    omniq_zadd(omniq_status_key(P, t.queue, t.name, status), t.seq, t.id)
    t.status = status
  end
  redis.call('HSET', P .. 'task:' .. t.id, 'status', status, ...)
end

local function omniq_ready_key(P, t)
  local keys = omniq_memo(omniq_kind_keys, t.queue, t.name)
  local key = keys.ready
  if not key then
    key = P .. 'ready:' .. t.queue .. '\n' .. t.name
    keys.ready = key
  end
  return key
end

-- A whole number as 4 and 6 big-endian bytes (0 ≤ n < 2^32, 2^48).
local function omniq_bytes4(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end

local function omniq_bytes6(n)
  return string.char(math.floor(n / 1099511627776) % 256, math.floor(n / 4294967296) % 256, math.floor(n / 16777216) % 256,
    math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end

-- The number the bytes from..to of s hold (big-endian).
local function omniq_unbytes(s, from, to)
  local n = 0
  for i = from, to do n = n * 256 + string.byte(s, i) end
  return n
end

-- Whether ready member a sorts before b as the ZSET orders them (by bytes; Lua's own string
-- comparison follows the server's locale). Their first 16 bytes differ: seq is unique.
local function omniq_member_before(a, b)
  for i = 1, 16 do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end

local function omniq_ready_member(t)
  local priority = math.floor(tonumber(t.priority) or 0)
  if priority > 2147483647 then priority = 2147483647 elseif priority < -2147483648 then priority = -2147483648 end
  local run_at = math.min(281474976710655, math.max(0, math.floor(tonumber(t.runAt) or 0)))
  return omniq_bytes4(2147483647 - priority) .. omniq_bytes6(run_at) .. omniq_bytes6(tonumber(t.seq)) .. t.id
end

local function omniq_wake(scope, queue)
  scope.wakes[queue] = true
end

-- Ends a script's changes: the deferred index writes, then the wake-ups.
local function omniq_flush(P, scope)
  omniq_flush_indexes()
  for queue in pairs(scope.wakes) do omniq_publish(P, 'wake', queue) end
  scope.wakes = {}
end

-- Files a waiting task (status and runAt set): in P..'expiry' when it can expire and, unless it
-- is blocked, in its ready ZSET when pending and due, else in P..'delayed'. Wakes its queue when
-- a reserve would take it now. rk_written: the caller already wrote t.rk (the ready member) into
-- the hash, as the enqueue does with the rest of the task.
local function omniq_file(P, t, now, scope, rk_written)
  local expires = tonumber(t.expiresAt)
  if expires then redis.call('ZADD', P .. 'expiry', expires, t.id) end
  if (tonumber(t.unmet) or 0) > 0 then return end
  local run_at = tonumber(t.runAt) or 0
  if run_at <= now and t.status == 'pending' then
    if not rk_written then
      t.rk = omniq_ready_member(t)
      redis.call('HSET', P .. 'task:' .. t.id, 'rk', t.rk)
    end
    omniq_zadd(omniq_ready_key(P, t), 0, t.rk)
    omniq_register('SADD', P .. 'names:' .. t.queue, t.name)
  else
    redis.call('ZADD', P .. 'delayed', run_at, t.id)
  end
  if run_at <= now then omniq_wake(scope, t.queue) end
end

-- Takes a waiting task out of its ready ZSET, P..'delayed' and P..'expiry'.
local function omniq_unfile(P, t)
  if t.rk and t.rk ~= '' then
    omniq_zrem(omniq_ready_key(P, t), t.rk)
    redis.call('HSET', P .. 'task:' .. t.id, 'rk', '')
    t.rk = ''
  end
  redis.call('ZREM', P .. 'delayed', t.id)
  if t.expiresAt then redis.call('ZREM', P .. 'expiry', t.id) end
end

local function omniq_parents(t)
  if not t.dependsOn or t.dependsOn == '[]' then return {} end
  local ok, parents = pcall(cjson.decode, t.dependsOn)
  if ok and type(parents) == 'table' then return parents end
  return {}
end

local function omniq_parent_met(child, parent_status)
  return parent_status == 'success' or (child.onParentFailure == 'run' and OMNIQ_FINAL[parent_status] == true)
end

-- Files the task under every parent that has not ended as it needs; sets unmet. A parent that is
-- not stored counts as not ended when missing_waits (an enqueue: it comes later in the same call),
-- else as ended (a requeue: it was purged, so it had ended).
local function omniq_wait_for_parents(P, t, missing_waits)
  local unmet = 0
  for _, parent_id in ipairs(omniq_parents(t)) do
    local parent_status = redis.call('HGET', P .. 'task:' .. parent_id, 'status')
    local waits
    if parent_status then waits = not omniq_parent_met(t, parent_status) else waits = missing_waits end
    if waits then
      redis.call('SADD', P .. 'deps:' .. parent_id, t.id)
      -- A parent not stored yet finds its dependents when it is (see omniq_enqueue).
      if parent_status then redis.call('HSET', P .. 'task:' .. parent_id, 'kids', 1) end
      unmet = unmet + 1
    end
  end
  t.unmet = unmet
  redis.call('HSET', P .. 'task:' .. t.id, 'unmet', unmet)
end

-- Stops a task that ended waiting for its parents.
local function omniq_detach(P, t)
  if (omniq_count(t.unmet) or 0) == 0 then return end
  for _, parent_id in ipairs(omniq_parents(t)) do redis.call('SREM', P .. 'deps:' .. parent_id, t.id) end
  redis.call('HSET', P .. 'task:' .. t.id, 'unmet', 0)
  t.unmet = 0
end

-- Gives a task its final status at 'at': out of every index, lease cleared, its idempotency key
-- freed or held for its dedupe window, no longer waiting for parents. Its dependents are the caller's.
local function omniq_finish(P, t, status, at, now)
  if t.status == 'running' then omniq_zrem(P .. 'running', t.id) else omniq_unfile(P, t) end
  -- A cleared lease field is '' (read as absent): one HSET instead of an HSET and an HDEL.
  omniq_set_status(P, t, status, 'completedAt', at, 'updatedAt', at, 'workerId', '', 'leaseToken', '', 'leaseExpiresAt', '')
  t.completedAt, t.workerId, t.leaseToken, t.leaseExpiresAt = at, '', '', ''
  omniq_zadd(P .. 'finished', at, t.id)
  if t.key then
    local held = P .. 'key:' .. t.key
    if redis.call('GET', held) == t.id then
      if t.dedupeWindowMs == nil then t.dedupeWindowMs = redis.call('HGET', P .. 'task:' .. t.id, 'dedupeWindowMs') end
      local window = tonumber(t.dedupeWindowMs)
      local ttl = window and math.floor(at + window - now) or 0
      if ttl > 0 then redis.call('SET', held, t.id, 'PX', ttl) else redis.call('DEL', held) end
    end
  end
  omniq_detach(P, t)
end

local function omniq_json_field(name, value)
  if value == nil or value == false or value == '' then return '' end
  return ',"' .. name .. '":' .. cjson.encode(value)
end

local function omniq_number(value, fallback)
  return string.format('%d', tonumber(value) or fallback)
end

-- A new event id: the call's random base with a counter in its last 12 hex digits.
local function omniq_new_id(scope)
  scope.n = scope.n + 1
  return string.sub(scope.base, 1, 24) .. string.format('%012x', scope.n)
end

local function omniq_parent_failed_error(parent)
  return '{"name":"ParentFailedError","message":' ..
    cjson.encode('Parent task ' .. parent.id .. ' (' .. parent.name .. ') ended ' .. parent.status) .. '}'
end

-- The error of a task that ended unrun, as unrunOutcome (lib/storage/outcomes.ts) words it.
local function omniq_unrun_error(t)
  if t.lastError and t.lastError ~= '' then return t.lastError end
  if t.status == 'expired' then
    return '{"name":"TaskExpiredError","message":' .. cjson.encode('Task expired unrun (ttl ' .. (t.ttlMs or 'undefined') .. ' ms)') .. '}'
  end
  return '{"name":"TaskCancelledError","message":"Task cancelled"}'
end

-- The event (and result, when the task stores results) of a task a cancel, expiry, cascade or last
-- lapse ended, as unrunOutcome builds them; written as the scope says.
local function omniq_write_unrun(P, t, now, scope)
  if not scope.results and not scope.events then return end
  local err = omniq_unrun_error(t)
  local common = ',"taskId":' .. cjson.encode(t.id) .. ',"taskName":' .. cjson.encode(t.name) .. ',"queue":' .. cjson.encode(t.queue)
  if scope.events then
    local event = '{"id":"' .. omniq_new_id(scope) .. '","type":"' .. t.status .. '","timestamp":' .. omniq_number(now, 0) ..
      common .. omniq_json_field('scheduleId', t.scheduleId) .. ',"error":' .. err .. '}'
    omniq_append_event(P, event, t.id, t.scheduleId, now, scope.cap)
  end
  if scope.results and t.storeResult ~= '0' then
    local completed = tonumber(t.completedAt) or now
    local expires = false
    if t.resultTtlMs then expires = now + tonumber(t.resultTtlMs) end
    local result = '{"status":"' .. t.status .. '"' .. common .. ',"error":' .. err ..
      ',"createdAt":' .. omniq_number(t.createdAt, 0) .. ',"completedAt":' .. omniq_number(completed, now) ..
      ',"attempts":' .. omniq_number(t.attempts, 0) .. omniq_json_field('scheduleId', t.scheduleId) ..
      (expires and (',"expiresAt":' .. omniq_number(expires, 0)) or '') .. '}'
    omniq_store_result(P, result, t.id, t.scheduleId, completed, expires and omniq_number(expires, 0) or false)
  end
end

-- Decides the fate of everything waiting for root's end, transitively: dependents that needed it
-- to succeed and it did not are cancelled (cancelledBy naming the parent whose end cancelled them,
-- their unrun outcome written as the scope says) and decide their own dependents' fate in turn;
-- the others stop waiting for it, and are filed once they wait for no parent. Appends the ids of
-- the tasks it cancelled to ended.
local function omniq_cascade(P, root, now, scope, ended)
  local parents = { root }
  local next_parent = 1
  while next_parent <= #parents do
    local parent = parents[next_parent]
    next_parent = next_parent + 1
    local waiting = P .. 'deps:' .. parent.id
    local children = {}
    if parent.kids then children = redis.call('SMEMBERS', waiting) end
    if #children > 0 then
      redis.call('DEL', waiting)
      local failed = parent.status ~= 'success'
      for _, child_id in ipairs(children) do
        local child = omniq_load(P, child_id)
        if child and OMNIQ_WAITING[child.status] then
          local key = P .. 'task:' .. child_id
          if not failed or child.onParentFailure == 'run' then
            child.unmet = redis.call('HINCRBY', key, 'unmet', -1)
            if child.unmet <= 0 then omniq_file(P, child, now, scope) end
          else
            child.lastError = omniq_parent_failed_error(parent)
            child.cancelledBy = parent.id
            redis.call('HSET', key, 'lastError', child.lastError, 'cancelledBy', parent.id)
            omniq_finish(P, child, 'cancelled', now, now)
            redis.call('SADD', P .. 'victims:' .. parent.id, child_id)
            omniq_write_unrun(P, child, now, scope)
            ended[#ended + 1] = child_id
            parents[#parents + 1] = child
          end
        end
      end
    end
  end
end

-- Ends a task (waiting or running) with a final status and its cascade (when dependents ever
-- waited for it: its 'kids' flag).
local function omniq_end(P, t, status, at, now, scope, ended)
  omniq_finish(P, t, status, at, now)
  if t.kids then omniq_cascade(P, t, now, scope, ended) end
end

-- Ends a waiting task unrun (cancel, expiry): its outcome, then its dependents'; appends all to ended.
local function omniq_end_unrun(P, t, status, now, scope, ended)
  omniq_finish(P, t, status, now, now)
  omniq_write_unrun(P, t, now, scope)
  ended[#ended + 1] = t.id
  if t.kids then omniq_cascade(P, t, now, scope, ended) end
end

-- What enqueue reads of a new task's flat field list (taskFields in redis-task-record.ts): its
-- first ten pairs come in a fixed order, so they are read by position; optional pairs follow.
local function omniq_task_of(fields)
  local t = { id = fields[2], name = fields[4], queue = fields[6], priority = fields[8], createdAt = fields[10],
    runAt = fields[12], dependsOn = fields[16], onParentFailure = fields[18] }
  for i = 21, #fields, 2 do t[fields[i]] = fields[i + 1] end
  return t
end

-- The next enqueue number: from the block the script took (scope.seq up to scope.seq_last, one
-- INCRBY for a whole call), else one INCR.
local function omniq_next_seq(P, scope)
  if scope.seq and scope.seq < scope.seq_last then
    scope.seq = scope.seq + 1
    return scope.seq
  end
  return redis.call('INCR', P .. 'seq')
end

-- Stores one new task from its flat field list (taskFields in redis-task-record.ts; t: what
-- omniq_task_of reads of it, when the caller has it) unless its idempotency key is held (by a
-- live task, or by one that ended within its dedupe window): then returns the holder's id and
-- false. Else returns its id and true. The caller checked ids and parents. Wakes its queue (in
-- scope.wakes when a scope is given, else at once) when it is due. Tasks of the same call stored
-- before it may wait for it: it looks for them unless the scope says the call has no
-- dependencies (scope.deps false). A task due and waiting for no parent is one HSET (its ready
-- member included) and index writes the flush batches.
local function omniq_enqueue(P, now, fields, scope, t)
  t = t or omniq_task_of(fields)
  if t.key then
    local holder = redis.call('GET', P .. 'key:' .. t.key)
    if holder then return holder, false end
  end
  local own_scope = scope == nil
  if own_scope then scope = { wakes = {} } end
  local id = t.id
  -- The text once, for the HSET and both index scores (see OMNIQ_COUNT).
  local seq = string.format('%d', omniq_next_seq(P, scope))
  t.seq = seq
  local status = 'pending'
  local run_at = tonumber(t.runAt)
  if t.runAt ~= t.createdAt and run_at > tonumber(t.createdAt) then status = 'scheduled' end
  t.status = status
  local has_parents = t.dependsOn ~= nil and t.dependsOn ~= '[]'
  t.rk = ''
  if not has_parents and status == 'pending' and run_at <= now then t.rk = omniq_ready_member(t) end
  redis.call('HSET', P .. 'task:' .. id, 'status', status, 'attempts', '0', 'lapses', '0', 'updatedAt', t.createdAt, 'seq', seq,
    'unmet', '0', 'rk', t.rk, unpack(fields))
  omniq_register('HSET', P .. 'counts', t.queue .. '\n' .. t.name, '1')
  omniq_zadd(omniq_status_key(P, t.queue, t.name, status), seq, id)
  omniq_zadd(P .. 'all', seq, id)
  if t.key then redis.call('SET', P .. 'key:' .. t.key, id) end
  if has_parents then omniq_wait_for_parents(P, t, true) else t.unmet = 0 end
  if (own_scope or scope.deps) and redis.call('EXISTS', P .. 'deps:' .. id) == 1 then redis.call('HSET', P .. 'task:' .. id, 'kids', 1) end
  omniq_file(P, t, now, scope, t.rk ~= '')
  if own_scope then omniq_flush(P, scope) end
  return id, true
end

-- A scope from ARGV values: results and events flags ('1'), the events cap and an id base.
local function omniq_scope(results, events, cap, base)
  return { results = results == '1', events = events == '1', cap = cap, base = base, n = 0, wakes = {}, deps = false }
end
`;
