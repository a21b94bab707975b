-- An application for an import permit (quotas drawn at permit issuance, SPEC §5): the
-- permit's units are drawn atomically from the period containing `issued_on`, from the
-- sub-quota's reserve first when the permit is for it, else refused with nothing drawn.
-- daily_pro_rata registers the application for its day's run instead; a quota drawn at
-- declarations only registers the permit (it authorises, it draws nothing).
-- PAYLOAD = {quota = Q, permit = {permit_number, business_number, measure, quantity,
--            issued_on, expires_on, sub_quota}, registration = JSON text}
-- Answers {outcome = issued | pending_allocation | refused | existing | conflict,
--          permit = [field, value, ...] (the permit's hash), remaining}
local q, p = PAYLOAD.quota, PAYLOAD.permit
local role = permit_role(q, p.permit_number)
-- every answer carries the permit as it now stands (its hash, flat), so the caller need
-- not read it again
local function answer(fields)
  fields.permit = redis.call('HGETALL', key(role))
  return cjson.encode(fields)
end
local prior = registration_text(hash(role))
if prior then
  if prior == PAYLOAD.registration then return answer({outcome = 'existing'}) end
  return answer({outcome = 'conflict'})
end
local who = {permit_number = p.permit_number, business_number = p.business_number,
  reason = present(p.reason) and p.reason or nil}
local fields = registration_fields(PAYLOAD.registration, {'business_number', p.business_number,
  'quantity', p.quantity, 'held', 0, 'reserve', 0, 'used', 0, 'returned', 0,
  'year', q.year, 'applied_at', NOW})

if q.drawn_at == 'declaration' then
  table.insert(fields, 'status'); table.insert(fields, 'issued')
  table.insert(fields, 'held'); table.insert(fields, p.quantity)
  redis.call('HSET', key(role), unpack(fields))
  redis.call('ZADD', key(q.id .. '|expiring'), day_score(p.expires_on), p.permit_number)
  return answer({outcome = 'issued'})
end

local i = period_index(q, p.issued_on)
if not i then return answer({outcome = 'refused', remaining = 0}) end
if q.mode == 'daily_pro_rata' then
  table.insert(fields, 'status'); table.insert(fields, 'pending_allocation')
  table.insert(fields, 'seq'); table.insert(fields, redis.call('INCR', key(q.id .. '|seq')))
  redis.call('HSET', key(role), unpack(fields))
  redis.call('RPUSH', key(q.id .. '|prorata|' .. p.issued_on), 'permit:' .. p.permit_number)
  redis.call('SADD', key(q.id .. '|prorata_days'), p.issued_on)
  return answer({outcome = 'pending_allocation'})
end

local figures = draw_figures(q, p.issued_on)
local f = figures[i]
local from_reserve, from_general = plan_draw(f, p.quantity, p.sub_quota)
local remaining = f.avail_general + (present(p.sub_quota) and num(f.avail_reserve[p.sub_quota]) or 0)
local account
if q.mode == 'importer_allocation' then
  account = account_figures(account_role(q, p.business_number))
  remaining = math.min(remaining, account.remaining)
end
if from_reserve + from_general < p.quantity or (account and account.remaining < p.quantity) then
  return answer({outcome = 'refused', remaining = math.max(remaining, 0)})
end
move(q, figures, i, 'allocated', p.quantity, from_reserve, p.sub_quota, who, p.issued_on)
settle(q, year_figures(q), 1, p.issued_on)
if account then
  redis.call('HINCRBY', key(account_role(q, p.business_number)), 'used', p.quantity)
end
count_permit(q, f.period.key, 'permits_issued', p.quantity, p.issued_on)
for _, value in ipairs({'status', 'issued', 'held', p.quantity, 'reserve', from_reserve,
    'period', f.period.key, 'issued_at', NOW}) do
  table.insert(fields, value)
end
if from_reserve > 0 then table.insert(fields, 'sub_quota'); table.insert(fields, p.sub_quota) end
redis.call('HSET', key(role), unpack(fields))
redis.call('ZADD', key(q.id .. '|expiring'), day_score(p.expires_on), p.permit_number)
return answer({outcome = 'issued', period = f.period.key,
  sub_quota = from_reserve > 0 and p.sub_quota or cjson.null, reserve = from_reserve})
