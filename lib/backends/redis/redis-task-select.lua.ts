/**
 * SELECT_LUA: how scripts find tasks by selector (queue, name, statuses) in enqueue order, for
 * list and the bulk calls. The status indexes of the matching queues, names and statuses (ZSETs by
 * seq, see TASK_LUA) are merged by score, a batch at a time from a seq cursor, so tasks changing
 * status while the walk goes on are neither lost nor seen twice under the same status; a visitor
 * that changes tasks re-reads their status.
 *
 * A selector in ARGV is: has queue ('1'/'0'), queue, has name ('1'/'0'), name, n statuses, statuses….
 * Needs TASK_LUA before it.
 */
export const SELECT_LUA = String.raw`
local OMNIQ_SCAN_BATCH = 200

-- Reads a selector from ARGV at position at; returns it and the position after it.
local function omniq_selector(at)
  local selector = { statuses = {} }
  if ARGV[at] == '1' then selector.queue = ARGV[at + 1] end
  if ARGV[at + 2] == '1' then selector.name = ARGV[at + 3] end
  local n = tonumber(ARGV[at + 4])
  for k = 1, n do selector.statuses[k] = ARGV[at + 4 + k] end
  return selector, at + 5 + n
end

-- Calls visit(id, seq) for the tasks in the ZSETs 'sources' (score seq) with seq > after, in seq
-- order, until visit returns false.
local function omniq_scan(sources, after, visit)
  local heads = {}
  for i, key in ipairs(sources) do heads[i] = { key = key, list = {}, pos = 1, from = after, done = false } end
  while true do
    local best = nil
    for _, head in ipairs(heads) do
      if not head.done and head.pos > #head.list then
        head.list = redis.call('ZRANGEBYSCORE', head.key, '(' .. head.from, '+inf', 'WITHSCORES', 'LIMIT', 0, OMNIQ_SCAN_BATCH)
        head.pos = 1
        if #head.list == 0 then head.done = true end
      end
      if not head.done and (best == nil or tonumber(head.list[head.pos + 1]) < tonumber(best.list[best.pos + 1])) then best = head end
    end
    if best == nil then return end
    local id, seq = best.list[best.pos], tonumber(best.list[best.pos + 1])
    best.pos = best.pos + 2
    best.from = seq
    if visit(id, seq) == false then return end
  end
end

-- The status indexes to walk for a selector among the statuses 'among' (a list; nil: any), and
-- the set of statuses they hold. With neither queue, name nor status to narrow it: {P..'all'}.
local function omniq_sources(P, selector, among)
  local statuses
  if #selector.statuses > 0 then
    local allowed = nil
    if among then
      allowed = {}
      for _, status in ipairs(among) do allowed[status] = true end
    end
    statuses = {}
    for _, status in ipairs(selector.statuses) do
      if allowed == nil or allowed[status] then statuses[#statuses + 1] = status end
    end
  elseif among then
    statuses = among
  elseif selector.queue == nil and selector.name == nil then
    return { P .. 'all' }, nil
  else
    statuses = OMNIQ_STATUSES
  end
  local wanted, sources = {}, {}
  for _, status in ipairs(statuses) do wanted[status] = true end
  for _, kind in ipairs(redis.call('HKEYS', P .. 'counts')) do
    local queue, name = string.match(kind, '^([^\n]*)\n(.*)$')
    if queue and (selector.queue == nil or selector.queue == queue) and (selector.name == nil or selector.name == name) then
      for status in pairs(wanted) do sources[#sources + 1] = omniq_status_key(P, queue, name, status) end
    end
  end
  return sources, wanted
end
`;
