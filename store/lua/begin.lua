-- A worker takes a declaration: queued (or pending_allocation, after its pro-rata run)
-- -> evaluating, atomically, so that a cancellation that got there first is never
-- overwritten and a cancellation cannot slip in while it is evaluated. Finding it
-- evaluating already means an earlier attempt was interrupted (or a duplicate delivery
-- is at work): that is counted, so that a declaration that keeps killing its worker ends
-- failed instead of looping.
-- Roles: decl (the declaration hash). PAYLOAD = {}.
-- Returns {status now, status before, interrupted attempts}.
local status = redis.call('HGET', key('decl'), 'status')
if status == 'queued' or status == 'pending_allocation' then
  redis.call('HSET', key('decl'), 'status', 'evaluating')
  return {'evaluating', status, tonumber(redis.call('HGET', key('decl'), 'attempts') or '0')}
end
if status == 'evaluating' then
  return {'evaluating', status, redis.call('HINCRBY', key('decl'), 'attempts', 1)}
end
return {status or '', status or '', 0}
