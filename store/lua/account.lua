-- Importer allocation accounts of a quota year (Canadian allocation TRQs):
-- acct:{q}:{year}:{bn} hash: initial, transfers_in, transfers_out, returned, used.
-- ARGV: 1 prefix, 2 quota id, 3 quota year, 4 operation ('initial' | 'transfer'),
--       5 business number, 6 quantity, 7 to business number (transfer), 8 year volume,
--       9 now
-- 'initial' sets an importer's initial allocation; the initial allocations of a year
-- never add up to more than its volume. 'transfer' moves units an importer has not used.
local prefix, quota, year, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local bn, quantity = ARGV[5], tonumber(ARGV[6])
local function num(value) return tonumber(value) or 0 end
local function key(who) return prefix .. ':acct:' .. quota .. ':' .. year .. ':' .. who end
local function left(who)
  local h = redis.call('HMGET', key(who), 'initial', 'transfers_in', 'transfers_out', 'returned', 'used')
  return num(h[1]) + num(h[2]) - num(h[3]) + num(h[4]) - num(h[5])
end
local members = prefix .. ':accts:' .. quota .. ':' .. year
if op == 'initial' then
  local total = 0
  for _, who in ipairs(redis.call('SMEMBERS', members)) do
    if who ~= bn then total = total + num(redis.call('HGET', key(who), 'initial')) end
  end
  if total + quantity > tonumber(ARGV[8]) then
    return {'refused', 'the initial allocations would exceed the year volume of ' .. ARGV[8]}
  end
  local used = num(redis.call('HGET', key(bn), 'initial'))
  if left(bn) - used + quantity < 0 then
    return {'refused', 'the importer has already used more than that'}
  end
  redis.call('HSET', key(bn), 'initial', quantity, 'business_number', bn)
  redis.call('SADD', members, bn)
elseif op == 'transfer' then
  local to = ARGV[7]
  if left(bn) < quantity then
    return {'refused', bn .. ' has only ' .. left(bn) .. ' units left to transfer'}
  end
  redis.call('HINCRBY', key(bn), 'transfers_out', quantity)
  redis.call('HINCRBY', key(to), 'transfers_in', quantity)
  redis.call('HSET', key(to), 'business_number', to)
  redis.call('SADD', members, to)
else
  return {'refused', 'unknown operation ' .. op}
end
redis.call('RPUSH', prefix .. ':qevents:' .. quota, cjson.encode({at = ARGV[9],
  type = op == 'initial' and 'account_allocated' or 'account_transferred', period = year,
  quantity = quantity, balance_before = 0, balance_after = 0, declaration_id = cjson.null,
  business_number = bn, to_business_number = ARGV[7]}))
return {'ok', ''}
