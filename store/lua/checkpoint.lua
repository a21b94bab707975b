-- Append a checkpoint to the checkpoint chain, if the chain still ends where the
-- checkpoint was computed (another API process may have written one meanwhile), set its
-- keyed tip, and take off the changed set the trails it covers that did not change again
-- since; each trail it covers points to it, from its record and from the index.
-- Roles: checkpoints (the list), changed (trails changed since the last checkpoint), tip
-- (the list's keyed tip), named (index of the newest checkpoint naming each
-- declaration), and 'decl|ID' the hash of each declaration read.
-- PAYLOAD = {prev (MAC of the checkpoint it follows, 64 zeros for the first), seq,
--            read = [[id, change number read, head read ('' if gone)]]}
-- value(1) the checkpoint (JSON), value(2) its keyed tip (JSON, schemas/verification.py)
local last = redis.call('LINDEX', key('checkpoints'), -1)
local prev = string.rep('0', 64)
if last then prev = cjson.decode(last).mac end
if prev ~= PAYLOAD.prev then return 'conflict' end
redis.call('RPUSH', key('checkpoints'), value(1))
redis.call('SET', key('tip'), value(2))
for _, entry in ipairs(PAYLOAD.read) do
  if redis.call('ZSCORE', key('changed'), entry[1]) == entry[2] then redis.call('ZREM', key('changed'), entry[1]) end
  local decl = key('decl|' .. entry[1])
  if entry[3] ~= '' and redis.call('HGET', decl, 'audit_head') == entry[3] then
    redis.call('HSET', decl, 'checkpoint', PAYLOAD.seq)
    redis.call('HSET', key('named'), entry[1], PAYLOAD.seq)
  end
end
return 'ok'
