-- Importer allocation accounts of a quota year (Canadian allocation TRQs).
-- PAYLOAD = {quota = Q, operation = initial | transfer, business_number, quantity,
--            to_business_number, year_volume}
-- 'initial' sets an importer's initial allocation; the initial allocations of a year
-- never add up to more than its volume (their sum is kept in Q|accts_total|YEAR).
-- 'transfer' moves units an importer has not used to another importer.
-- Answers {'ok', ''} or {'refused', why}.
local q, op = PAYLOAD.quota, PAYLOAD.operation
local bn, quantity = PAYLOAD.business_number, PAYLOAD.quantity
local members = key(q.id .. '|accts|' .. q.year)
local totals = key(q.id .. '|accts_total|' .. q.year)
local mine = account_role(q, bn)
if op == 'initial' then
  local current = num(redis.call('HGET', key(mine), 'initial'))
  local others = num(redis.call('HGET', totals, 'initial')) - current
  if others + quantity > PAYLOAD.year_volume then
    return {'refused', 'the initial allocations would exceed the year volume of ' ..
      PAYLOAD.year_volume}
  end
  if account_figures(mine).remaining - current + quantity < 0 then
    return {'refused', 'the importer has already used more than that'}
  end
  redis.call('HSET', key(mine), 'initial', quantity, 'business_number', bn)
  redis.call('HSET', totals, 'initial', others + quantity)
  redis.call('SADD', members, bn)
elseif op == 'transfer' then
  local to = PAYLOAD.to_business_number
  local left = account_figures(mine).remaining
  if left < quantity then
    return {'refused', bn .. ' has only ' .. left .. ' units left to transfer'}
  end
  local theirs = account_role(q, to)
  redis.call('HINCRBY', key(mine), 'transfers_out', quantity)
  redis.call('HINCRBY', key(theirs), 'transfers_in', quantity)
  redis.call('HSET', key(theirs), 'business_number', to)
  redis.call('SADD', members, to)
else
  return {'refused', 'unknown operation ' .. op}
end
event(q, {type = op == 'initial' and 'account_allocated' or 'account_transferred',
  on = PAYLOAD.day, period = tostring(q.year), quantity = quantity, balance_before = 0,
  balance_after = 0, business_number = bn, to_business_number = PAYLOAD.to_business_number})
return {'ok', ''}
