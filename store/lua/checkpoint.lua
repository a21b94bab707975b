-- Append a checkpoint to the checkpoint chain, if the chain still ends where the
-- checkpoint was computed (another API process may have written one meanwhile), set its
-- keyed tip, and take off the changed set the trails it covers that did not change again
-- since; each trail it covers points to it, from its record and from the index.
-- KEYS[1] checkpoint list, KEYS[2] trails changed since the last checkpoint, KEYS[3] the
-- list's keyed tip, KEYS[4] index of the newest checkpoint naming each declaration,
-- KEYS[5..] the hash of each declaration read (in the order of ARGV[4])
-- ARGV: 1 MAC of the checkpoint it follows (64 zeros for the first), 2 the checkpoint
--       (JSON), 3 its seq, 4 JSON array of [id, change number read, head read ('' if gone)],
--       5 its keyed tip (JSON, schemas/verification.py)
local last = redis.call('LINDEX', KEYS[1], -1)
local prev = string.rep('0', 64)
if last then prev = cjson.decode(last).mac end
if prev ~= ARGV[1] then return 'conflict' end
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[5])
for position, entry in ipairs(cjson.decode(ARGV[4])) do
  if redis.call('ZSCORE', KEYS[2], entry[1]) == entry[2] then redis.call('ZREM', KEYS[2], entry[1]) end
  if entry[3] ~= '' and redis.call('HGET', KEYS[4 + position], 'audit_head') == entry[3] then
    redis.call('HSET', KEYS[4 + position], 'checkpoint', ARGV[3])
    redis.call('HSET', KEYS[4], entry[1], ARGV[3])
  end
end
return 'ok'
