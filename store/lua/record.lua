-- Append audit events and change a declaration's fields in one step, guarded twice:
-- the declaration must be in one of the allowed statuses, and the audit chain's head
-- must be the one the events were chained on (another writer got there first otherwise).
-- A fields object holding a verdict's summary comes with the verdict (schemas/summary.py),
-- so that lists never read a verdict to show one row of it.
-- Roles: decl (the declaration hash), pending (set of declarations without a verdict),
-- audit (its trail), body and verdict (packed), doc (its body, verdict and trail as one
-- packed document, once decided), changed (trails changed since the
-- last checkpoint, sorted by `changes`, the change counter), stats (operational
-- counters), and each key the payload's index and decisions name.
-- PAYLOAD = {allowed (statuses, comma-separated, '' = any), head (expected audit head),
--            new_head, count (events appended), fields (object), done (take it off the
--            pending set), mac (of id, new head and new length under the audit key, ''
--            without a key), verdict (a verdict is value(1)), document (value(1) is the
--            whole document instead: the body, the verdict, the trail as it was read, of
--            `replaces` items, and the events of this write), items (how many trail
--            items follow), index = [[role, member, score, guard role?]] (an entry with
--            a guard only while the guard key exists), decisions = [[index role, member,
--            time (ms), kept (JSON)]] (the decision index, in buckets: below),
--            counters = {name: n}, channel (a status change is published there: the
--            declaration id, which wakes the API's long polls)}
-- so that a verdict and its decision index (and what the decision list shows of each)
-- are written together.
-- value(1) the verdict or the document, packed ('' without one); value(2 .. 1 + items)
-- the trail's items
local state = redis.call('HMGET', key('decl'), 'status', 'audit_head', 'audit_len', 'archive')
if not state[1] then return {'missing', ''} end
-- an archived declaration's trail is closed: its events are in the archive file
if state[4] then return {'archived', state[1]} end
if PAYLOAD.allowed ~= '' then
  local allowed = false
  for status in string.gmatch(PAYLOAD.allowed, '[^,]+') do
    if status == state[1] then allowed = true end
  end
  if not allowed then return {'stale', state[1]} end
end
if state[2] ~= PAYLOAD.head then return {'conflict', state[1]} end
if PAYLOAD.document then
  -- the trail read is the trail still (the head says no event came since; this, that
  -- nothing else changed it, and that no other write made a document of it meanwhile,
  -- whose events would be lost): it moves into the document with the body and the verdict
  if redis.call('EXISTS', key('doc')) == 1 or redis.call('LLEN', key('audit')) ~= PAYLOAD.replaces then
    return {'conflict', state[1]}
  end
  redis.call('SET', key('doc'), value(1))
  redis.call('DEL', key('audit'), key('body'), key('verdict'))
  redis.call('HDEL', key('decl'), 'body', 'verdict')
end
if PAYLOAD.items > 0 then redis.call('RPUSH', key('audit'), unpack(values(2, 1 + PAYLOAD.items))) end
-- every field in one HSET: each redis.call is most of a script's cost
local fields = PAYLOAD.fields
local written = {}
for name, item in pairs(fields) do
  written[#written + 1] = name
  written[#written + 1] = item
end
written[#written + 1] = 'audit_head'
written[#written + 1] = PAYLOAD.new_head
written[#written + 1] = 'audit_len'
written[#written + 1] = tonumber(state[3]) + PAYLOAD.count
local id = nil
if PAYLOAD.mac ~= '' then
  written[#written + 1] = 'audit_mac'
  written[#written + 1] = PAYLOAD.mac
  if PAYLOAD.count > 0 then
    id = id or redis.call('HGET', key('decl'), 'id')
    redis.call('ZADD', key('changed'), redis.call('INCR', key('changes')), id)
  end
end
redis.call('HSET', key('decl'), unpack(written))
if PAYLOAD.verdict and not PAYLOAD.document then
  redis.call('SET', key('verdict'), value(1))
  -- a record from before verdicts were kept on their own: its old one must not shadow it
  redis.call('HDEL', key('decl'), 'verdict')
end
if PAYLOAD.done then
  id = id or redis.call('HGET', key('decl'), 'id')
  redis.call('ZREM', key('pending'), id)
end
for _, entry in ipairs(PAYLOAD.index) do
  -- an entry naming a guard is written only while that key exists
  if not present(entry[4]) or redis.call('EXISTS', key(entry[4])) == 1 then
    redis.call('ZADD', key(entry[1]), entry[3], entry[2])
  end
end
-- A rule's decisions go in buckets of at most BUCKET, which Redis keeps as listpacks
-- (hash-max-listpack-entries is 512): INDEX:n, a hash 'declaration|line' -> [time (ms),
-- what the decision list shows of it]. INDEX:count is the bucket being filled,
-- INDEX:first and INDEX:last each bucket's earliest and latest time (ms), for reads of a
-- time range (store/audit.py). The buckets are named from the declared INDEX key:
-- Accord runs on one primary.
local BUCKET = 512
for _, entry in ipairs(PAYLOAD.decisions) do
  local index = key(entry[1])
  local n = tonumber(redis.call('GET', index .. ':count') or '0')
  if n == 0 or redis.call('HLEN', index .. ':' .. n) >= BUCKET then
    n = redis.call('INCR', index .. ':count')
  end
  redis.call('HSET', index .. ':' .. n, entry[2], entry[4])
  redis.call('ZADD', index .. ':first', 'LT', entry[3], n)
  redis.call('ZADD', index .. ':last', 'GT', entry[3], n)
end
for name, amount in pairs(PAYLOAD.counters) do redis.call('HINCRBY', key('stats'), name, amount) end
if present(fields.status) then
  id = id or redis.call('HGET', key('decl'), 'id')
  redis.call('PUBLISH', PAYLOAD.channel, id)
end
return {'ok', fields.status or state[1]}
