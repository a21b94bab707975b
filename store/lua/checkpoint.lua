-- Append a checkpoint to the checkpoint chain, if the chain still ends where the
-- checkpoint was computed (another API process may have written one meanwhile), and
-- take off the changed set the trails it covers that did not change again since.
-- KEYS[1] checkpoint list, KEYS[2] trails changed since the last checkpoint,
-- KEYS[3..] the hash of each declaration read (in the order of ARGV[4])
-- ARGV: 1 MAC of the checkpoint it follows (64 zeros for the first), 2 the checkpoint
--       (JSON), 3 its seq, 4 JSON array of [id, change number read, head read ('' if gone)]
local last = redis.call('LINDEX', KEYS[1], -1)
local prev = string.rep('0', 64)
if last then prev = cjson.decode(last).mac end
if prev ~= ARGV[1] then return 'conflict' end
redis.call('RPUSH', KEYS[1], ARGV[2])
for position, entry in ipairs(cjson.decode(ARGV[4])) do
  if redis.call('ZSCORE', KEYS[2], entry[1]) == entry[2] then redis.call('ZREM', KEYS[2], entry[1]) end
  if entry[3] ~= '' and redis.call('HGET', KEYS[2 + position], 'audit_head') == entry[3] then
    redis.call('HSET', KEYS[2 + position], 'checkpoint', ARGV[3])
  end
end
return 'ok'
