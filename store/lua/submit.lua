-- Store a declaration once: the API answers 202 only after this returns 'created'.
-- Roles: decl (the declaration hash), pending (set of declarations without a verdict),
-- audit (its trail), body (its canonical body, packed), submitted and submitted_bn
-- (indexes of every and of the importer's submissions, newest last), seq (the
-- submission counter: the order of submission, within a batch too), changed (trails
-- changed since the last checkpoint, sorted by `changes`, the change counter), stats (the
-- operational counters: `submissions` counts the declarations stored).
-- PAYLOAD = {id, sha (of the body), bn, submitted_at (epoch s, text), head, length (audit
--            events), mac (of id, head and length under the audit key; '' without a key),
--            summary (of the body, that lists read: schemas/summary.py), items (how many
--            trail items follow the body)}
-- value(1) the body, packed; value(2 .. 1 + items) the trail's items (store/packing.py)
local existing = redis.call('HMGET', key('decl'), 'sha', 'status')
if existing[1] then
  if existing[1] == PAYLOAD.sha then return {'existing', existing[2]} end
  return {'conflict', existing[2]}
end
-- One HSET and one RPUSH for all of it: each redis.call is most of a script's cost.
local fields = {'id', PAYLOAD.id, 'sha', PAYLOAD.sha, 'bn', PAYLOAD.bn,
  'status', 'queued', 'submitted_at', PAYLOAD.submitted_at, 'audit_head', PAYLOAD.head,
  'audit_len', PAYLOAD.length, 'attempts', 0, 'seq', redis.call('INCR', key('seq'))}
for name, item in pairs(PAYLOAD.summary) do
  fields[#fields + 1] = name
  fields[#fields + 1] = item
end
if PAYLOAD.mac ~= '' then
  fields[#fields + 1] = 'audit_mac'
  fields[#fields + 1] = PAYLOAD.mac
  redis.call('ZADD', key('changed'), redis.call('INCR', key('changes')), PAYLOAD.id)
end
redis.call('HSET', key('decl'), unpack(fields))
redis.call('SET', key('body'), value(1))
redis.call('ZADD', key('pending'), PAYLOAD.submitted_at, PAYLOAD.id)
redis.call('ZADD', key('submitted'), PAYLOAD.submitted_at, PAYLOAD.id)
redis.call('ZADD', key('submitted_bn'), PAYLOAD.submitted_at, PAYLOAD.id)
if PAYLOAD.items > 0 then redis.call('RPUSH', key('audit'), unpack(values(2, 1 + PAYLOAD.items))) end
redis.call('HINCRBY', key('stats'), 'submissions', 1)
return {'created', 'queued'}
