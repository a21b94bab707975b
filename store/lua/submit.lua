-- Store a declaration once: the API answers 202 only after this returns 'created'.
-- KEYS[1] declaration hash, KEYS[2] pending set, KEYS[3] audit list, KEYS[4] index of
-- submissions, KEYS[5] index of the importer's submissions (newest last), KEYS[6] the
-- submission counter (the order of submission, within a batch too), KEYS[7] trails changed
-- since the last checkpoint (sorted by KEYS[8], the change counter), KEYS[9] the operational
-- counters (`submissions` counts the declarations stored)
-- ARGV: 1 id, 2 canonical body, 3 body sha256, 4 business number, 5 submitted_at (epoch s),
--       6 audit events (JSON array of encoded events), 7 audit head, 8 audit length,
--       9 HMAC of (id, head, length) under the audit key ('' without a key),
--       10 the summary of the body that lists read (JSON object, schemas/summary.py)
local existing = redis.call('HMGET', KEYS[1], 'sha', 'status')
if existing[1] then
  if existing[1] == ARGV[3] then return {'existing', existing[2]} end
  return {'conflict', existing[2]}
end
-- One HSET and one RPUSH for all of it: each redis.call is most of a script's cost.
local fields = {'id', ARGV[1], 'body', ARGV[2], 'sha', ARGV[3], 'bn', ARGV[4],
  'status', 'queued', 'submitted_at', ARGV[5], 'audit_head', ARGV[7], 'audit_len', ARGV[8],
  'attempts', 0, 'seq', redis.call('INCR', KEYS[6])}
for name, value in pairs(cjson.decode(ARGV[10])) do
  fields[#fields + 1] = name
  fields[#fields + 1] = value
end
if ARGV[9] ~= '' then
  fields[#fields + 1] = 'audit_mac'
  fields[#fields + 1] = ARGV[9]
  redis.call('ZADD', KEYS[7], redis.call('INCR', KEYS[8]), ARGV[1])
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[1])
local events = cjson.decode(ARGV[6])
if #events > 0 then redis.call('RPUSH', KEYS[3], unpack(events)) end
redis.call('HINCRBY', KEYS[9], 'submissions', 1)
return {'created', 'queued'}
