-- A worker takes a declaration: queued -> evaluating, atomically, so that a
-- cancellation that got there first is never overwritten. Returns the status now.
-- KEYS[1] declaration hash
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'evaluating')
  return 'evaluating'
end
return status or ''
