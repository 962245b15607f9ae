import { RECORDS_LUA } from './redis-records.lua.js';

/**
 * The scripts of the event store (RedisEventStore), on the event functions of RECORDS_LUA (see
 * its EVENTS part for the keys). P (ARGV[1] of every script) is the project's key prefix.
 */

/** ARGV: P, cap, then json, taskId, scheduleId ('' when absent), timestamp per event. */
export const APPEND_EVENTS_LUA = `${RECORDS_LUA}
local P, cap = ARGV[1], ARGV[2]
for i = 3, #ARGV, 4 do
  omniq_append_event(P, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], cap)
end
omniq_flush_indexes()
return 0
`;

/** The {id, json, …} of the entries ids names that the stream still holds. */
const ENTRIES = `
local function omniq_entries(stream, ids, out)
  for _, id in ipairs(ids) do
    local entry = redis.call('XRANGE', stream, id, id)[1]
    if entry then
      local json = ''
      for f = 1, #entry[2], 2 do
        if entry[2][f] == 'e' then json = entry[2][f + 1] end
      end
      out[#out + 1] = id
      out[#out + 1] = json
    end
  end
  return out
end
`;

/** KEYS[1]: a task's timeline. ARGV: P. Returns {id, json, …} of its events, in append order. */
export const TASK_EVENTS_LUA = `${ENTRIES}
local timeline = redis.call('GET', KEYS[1])
if not timeline then return {} end
local ids = {}
for id in string.gmatch(timeline, '[^ ]+') do ids[#ids + 1] = id end
return omniq_entries(ARGV[1] .. 'events', ids, {})
`;

/**
 * One page of a ZSET of stream ids (KEYS[1]: events:odd by timestamp, events:sched:<id> by stream
 * milliseconds). ARGV: P, lowest score, highest score (ZRANGEBYSCORE bounds), 'asc' or 'desc',
 * offset, page size. Returns {members read, last score, id, json, …}; members whose entry is gone
 * (trimmed or purged) leave the index, so the next page starts at offset + members read − gone.
 */
export const INDEX_PAGE_LUA = `${ENTRIES}
local index, P, low, high, offset, count = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
local page
if ARGV[4] == 'desc' then
  page = redis.call('ZREVRANGEBYSCORE', index, high, low, 'WITHSCORES', 'LIMIT', offset, count)
else
  page = redis.call('ZRANGEBYSCORE', index, low, high, 'WITHSCORES', 'LIMIT', offset, count)
end
local ids = {}
for i = 1, #page, 2 do ids[#ids + 1] = page[i] end
local out = omniq_entries(P .. 'events', ids, { 0, page[#page] or '' })
local kept = (#out - 2) / 2
local gone = {}
if kept < #ids then
  local present = {}
  for i = 3, #out, 2 do present[out[i]] = true end
  for _, id in ipairs(ids) do if not present[id] then gone[#gone + 1] = id end end
  redis.call('ZREM', index, unpack(gone))
end
out[1] = #ids - #gone
return out
`;

/**
 * ARGV: P, cutoff (epoch ms, exclusive), batch size, cursor (a stream id; '-' at first). Deletes
 * the events older than the cutoff among the next batch of entries from the cursor whose stream
 * time is below cutoff + margin (no later entry can be older, off-clock ones aside); past the last
 * such batch, the off-clock ones older than it (a batch), and what indexed the deleted entries
 * (a batch of timelines per call; the cursor 'timelines' goes on with them). Returns {how many it
 * deleted, the next cursor, '' when done}.
 */
export const PURGE_EVENTS_LUA = `${RECORDS_LUA}
local P, cutoff, batch, cursor = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local stream = P .. 'events'
-- Below the cutoff's margin only off-clock entries newer than the cutoff are left.
local function kept(id) return redis.call('ZSCORE', P .. 'events:odd', id) ~= false end
local cut = math.max(0, cutoff - OMNIQ_MARGIN) .. '-0'
if cursor == 'timelines' then
  local more = omniq_unindex_before(P, cut, batch, kept)
  omniq_flush_indexes()
  return { 0, more and 'timelines' or '' }
end
local doomed, owned = {}, {}

-- The event of an entry's fields, or nil.
local function event_of(fields)
  for f = 1, #fields, 2 do
    if fields[f] == 'e' then
      local ok, event = pcall(cjson.decode, fields[f + 1])
      if ok and type(event) == 'table' then return event end
    end
  end
  return nil
end

-- Takes a deleted entry out of its task's timeline and its schedule's ZSET.
local function forget(id, event)
  if type(event.taskId) == 'string' then
    local key = P .. 'events:task:' .. event.taskId
    local timeline = redis.call('GET', key)
    local at = timeline and string.find(timeline, id .. ' ', 1, true)
    if at then
      local rest = string.sub(timeline, 1, at - 1) .. string.sub(timeline, at + #id + 1)
      if rest == '' then redis.call('DEL', key) else redis.call('SET', key, rest) end
    end
  end
  if type(event.scheduleId) == 'string' then redis.call('ZREM', P .. 'events:sched:' .. event.scheduleId, id) end
end
local entries = redis.call('XRANGE', stream, cursor, '(' .. (cutoff + OMNIQ_MARGIN), 'COUNT', batch)
for _, entry in ipairs(entries) do
  local id = entry[1]
  local ms = omniq_stream_id(id)
  local ts = redis.call('ZSCORE', P .. 'events:odd', id)
  if ts then
    -- Off the clock: its timeline may name it anywhere.
    ts = tonumber(ts)
    owned[id] = event_of(entry[2])
  elseif ms < cutoff - OMNIQ_MARGIN then
    ts = ms
  else
    -- Within the margin: its index entries lie past what omniq_unindex_before drops.
    local event = event_of(entry[2])
    if event and type(event.timestamp) == 'number' then
      ts = event.timestamp
      owned[id] = event
    end
  end
  -- An entry no reader can decode stays: a query reports it.
  if ts and ts < cutoff then doomed[#doomed + 1] = id end
end
local next_cursor = ''
if #entries == batch then
  next_cursor = '(' .. entries[#entries][1]
else
  local odd = redis.call('ZRANGEBYSCORE', P .. 'events:odd', '-inf', '(' .. cutoff, 'LIMIT', 0, batch)
  for _, id in ipairs(odd) do
    doomed[#doomed + 1] = id
    local entry = redis.call('XRANGE', stream, id, id)[1]
    owned[id] = entry and event_of(entry[2])
  end
  if #odd == batch then next_cursor = cursor end
end
local deleted = 0
for _, id in ipairs(doomed) do
  if owned[id] then forget(id, owned[id]) end
  deleted = deleted + redis.call('XDEL', stream, id)
  redis.call('ZREM', P .. 'events:odd', id)
  redis.call('ZREM', P .. 'events:odd-ids', id)
end
if next_cursor == '' and omniq_unindex_before(P, cut, batch, kept) then next_cursor = 'timelines' end
omniq_flush_indexes()
return { deleted, next_cursor }
`;
