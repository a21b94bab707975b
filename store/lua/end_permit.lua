-- A permit ends unused: cancelled (by its importer or an administrator) or expired.
-- Its units return to the period open on `day` within its quota year (they lapse after
-- it); a permit waiting for its pro-rata run leaves the run. Idempotent: a permit that
-- is no longer issued or pending is left as it is.
-- PAYLOAD = {quota = Q (the permit's quota year), permit_number, day, status =
--            cancelled | expired}
-- Answers {outcome = ended | unchanged, status, returned, period}
local q, number, day = PAYLOAD.quota, PAYLOAD.permit_number, PAYLOAD.day
local role = permit_role(q, number)
local h = hash(role)
if h.status ~= 'issued' and h.status ~= 'pending_allocation' then
  return cjson.encode({outcome = 'unchanged', status = h.status or cjson.null, returned = 0})
end
local held, reserve = num(h.held), num(h.reserve)
local went = nil
if h.status == 'issued' and q.drawn_at == 'permit' then
  local who = {permit_number = number, business_number = h.business_number}
  went = give_permit_units(q, h, held, reserve, who, day)
end
if h.status == 'pending_allocation' then
  local registration = cjson.decode(registration_text(h))
  redis.call('LREM', key(q.id .. '|prorata|' .. registration.issued_on), 0, 'permit:' .. number)
end
local drew = h.status == 'issued' and q.drawn_at == 'permit'
local lapsed = (drew and not went) and held or 0
redis.call('HSET', key(role), 'status', PAYLOAD.status, 'ended_on', day,
  'returned', num(h.returned) + (went and held or 0), 'lapsed', lapsed)
redis.call('ZREM', key(q.id .. '|expiring'), number)
return cjson.encode({outcome = 'ended', status = PAYLOAD.status, returned = went and held or 0,
  period = went or cjson.null})
