-- Append audit events and change a declaration's fields in one step, guarded twice:
-- the declaration must be in one of the allowed statuses, and the audit chain's head
-- must be the one the events were chained on (another writer got there first otherwise).
-- A fields object holding a verdict holds its summary too (schemas/summary.py), so that
-- lists never read a verdict to show one row of it.
-- KEYS[1] declaration hash, KEYS[2] pending set, KEYS[3] audit list, KEYS[4] trails
-- changed since the last checkpoint (sorted by KEYS[5], the change counter)
-- ARGV: 1 allowed statuses (comma-separated, '' = any), 2 expected audit head,
--       3 events (JSON array of encoded events), 4 new head, 5 fields (JSON object),
--       6 'done' to take the declaration off the pending set,
--       7 side effects on success (JSON: {index: [[key, member, score, guard?]], rows: [[key,
--         member, row]], counters: {name: n}, stats: key, channel: name}), so that a verdict
--         and its decision index (and what the decision list shows of each) are written
--         together (an index entry with a guard key only while the guard exists); a status
--         change is published on `channel` (the declaration id), which
--         wakes the API's long polls
--       8 HMAC of (id, new head, new length) under the audit key ('' without a key)
local state = redis.call('HMGET', KEYS[1], 'status', 'audit_head', 'audit_len', 'archive')
if not state[1] then return {'missing', ''} end
-- an archived declaration's trail is closed: its events are in the archive file
if state[4] then return {'archived', state[1]} end
if ARGV[1] ~= '' then
  local allowed = false
  for status in string.gmatch(ARGV[1], '[^,]+') do
    if status == state[1] then allowed = true end
  end
  if not allowed then return {'stale', state[1]} end
end
if state[2] ~= ARGV[2] then return {'conflict', state[1]} end
local events = cjson.decode(ARGV[3])
if #events > 0 then redis.call('RPUSH', KEYS[3], unpack(events)) end
-- every field in one HSET: each redis.call is most of a script's cost
local fields = cjson.decode(ARGV[5])
local written = {}
for name, value in pairs(fields) do
  written[#written + 1] = name
  written[#written + 1] = value
end
written[#written + 1] = 'audit_head'
written[#written + 1] = ARGV[4]
written[#written + 1] = 'audit_len'
written[#written + 1] = tonumber(state[3]) + #events
local id = nil
if ARGV[8] and ARGV[8] ~= '' then
  written[#written + 1] = 'audit_mac'
  written[#written + 1] = ARGV[8]
  if #events > 0 then
    id = id or redis.call('HGET', KEYS[1], 'id')
    redis.call('ZADD', KEYS[4], redis.call('INCR', KEYS[5]), id)
  end
end
redis.call('HSET', KEYS[1], unpack(written))
if ARGV[6] == 'done' then
  id = id or redis.call('HGET', KEYS[1], 'id')
  redis.call('ZREM', KEYS[2], id)
end
if ARGV[7] and ARGV[7] ~= '' then
  local extra = cjson.decode(ARGV[7])
  if type(extra.index) == 'table' then
    for _, entry in ipairs(extra.index) do
      -- an entry naming a 4th key is written only while that key exists
      if not entry[4] or redis.call('EXISTS', entry[4]) == 1 then
        redis.call('ZADD', entry[1], entry[3], entry[2])
      end
    end
  end
  if type(extra.rows) == 'table' then
    for _, entry in ipairs(extra.rows) do redis.call('HSET', entry[1], entry[2], entry[3]) end
  end
  if type(extra.counters) == 'table' then
    for name, amount in pairs(extra.counters) do redis.call('HINCRBY', extra.stats, name, amount) end
  end
  if fields.status and type(extra.channel) == 'string' then
    id = id or redis.call('HGET', KEYS[1], 'id')
    redis.call('PUBLISH', extra.channel, id)
  end
end
return {'ok', fields.status or state[1]}
