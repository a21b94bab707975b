-- A pro-rata allocation run (daily_pro_rata): the requests of one quota and one day, in
-- submission order, share the units a draw on that day's period may take; when they ask
-- for more, each gets its pro-rata share in whole units, by largest remainder, ties by
-- submission order. Declarations get a grant and are evaluated again to take it;
-- permit applications are issued for their share at once, or refused with none.
-- PAYLOAD = {quota = Q, day, entries = [the day's list, as read before the call]}
-- Answers {declarations = [ids to evaluate again], permits = [{permit_number, status,
--          quantity}], requested}
local q, day = PAYLOAD.quota, PAYLOAD.day
local list_role = q.id .. '|prorata|' .. day
-- the entries the caller read (and declared the keys of); one filed since waits for the
-- next run of its day
local still = {}
for _, entry in ipairs(redis.call('LRANGE', key(list_role), 0, -1)) do still[entry] = true end
local entries = {}
for _, entry in ipairs(PAYLOAD.entries) do
  -- a declaration cancelled since left the list: it takes no share from the others
  if still[entry] then table.insert(entries, entry) end
end
local asks, order, total = {}, {}, 0
for position, entry in ipairs(entries) do
  local kind, id = string.match(entry, '^(%a+):(.*)$')
  if kind == 'decl' then
    local pending = cjson.decode(redis.call('GET', key(q.id .. '|prorata_req|' .. id)))
    for _, r in ipairs(pending.requests) do
      if r.quota.id == q.id then
        table.insert(asks, {kind = kind, id = id, line = r.line, quantity = r.quantity,
          seq = num(pending.seq), position = position})
      end
    end
  elseif kind == 'permit' then
    local h = hash(permit_role(q, id))
    if h.status == 'pending_allocation' then
      table.insert(asks, {kind = kind, id = id, quantity = num(h.quantity), seq = num(h.seq),
        position = position, h = h})
    end
  end
end
table.sort(asks, function(a, b)
  if a.seq ~= b.seq then return a.seq < b.seq end
  return a.position < b.position
end)
for _, ask in ipairs(asks) do total = total + ask.quantity end
local i = period_index(q, day)
local figures = draw_figures(q, day)
local available = i and math.max(figures[i].avail_general, 0) or 0
local shares = {}
if total <= available then
  for n, ask in ipairs(asks) do shares[n] = ask.quantity end
else
  local given = 0
  for n, ask in ipairs(asks) do
    shares[n] = math.floor(available * ask.quantity / total)
    given = given + shares[n]
    table.insert(order, {n = n, rest = (available * ask.quantity) % total})
  end
  table.sort(order, function(a, b)
    if a.rest ~= b.rest then return a.rest > b.rest end
    return a.n < b.n
  end)
  for n = 1, available - given do shares[order[n].n] = shares[order[n].n] + 1 end
end
local grants, declarations, permits, granted = {}, {}, {}, 0
for n, ask in ipairs(asks) do
  if ask.kind == 'decl' then
    if not grants[ask.id] then
      grants[ask.id] = {}
      table.insert(declarations, ask.id)
    end
    grants[ask.id][tostring(ask.line)] = shares[n]
    granted = granted + shares[n]
  else
    local role = permit_role(q, ask.id)
    if shares[n] > 0 then
      local who = {permit_number = ask.id, business_number = ask.h.business_number}
      move(q, year_figures(q), i, 'allocated', shares[n], 0, nil, who, day)
      count_permit(q, q.periods[i].key, 'permits_issued', shares[n], day)
      local registration = cjson.decode(registration_text(ask.h))
      redis.call('HSET', key(role), 'status', 'issued', 'held', shares[n],
        'period', q.periods[i].key, 'issued_at', NOW)
      redis.call('ZADD', key(q.id .. '|expiring'), day_score(registration.expires_on), ask.id)
      table.insert(permits, {permit_number = ask.id, status = 'issued', quantity = shares[n]})
    else
      redis.call('HSET', key(role), 'status', 'refused', 'ended_on', day)
      table.insert(permits, {permit_number = ask.id, status = 'refused', quantity = 0})
    end
  end
end
if granted > 0 then
  count(q, q.periods[i].key, 'granted', granted, day)
end
for _, id in ipairs(declarations) do
  redis.call('SET', key(q.id .. '|prorata_grant|' .. id), cjson.encode(grants[id]))
end
settle(q, year_figures(q), 1, day)
for _, entry in ipairs(entries) do redis.call('LREM', key(list_role), 1, entry) end
if redis.call('LLEN', key(list_role)) == 0 then
  redis.call('SREM', key(q.id .. '|prorata_days'), day)
end
return cjson.encode({declarations = declarations, permits = permits, requested = total})
