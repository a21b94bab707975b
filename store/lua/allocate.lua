-- Apply one declaration's quota requests, all lines at once or none (SPEC §4 step 5).
-- Idempotent: the result is stored under the declaration, and a second call returns it
-- unchanged, so a redelivered task never consumes quota, permits or VINs twice.
-- PAYLOAD = {declaration_id, business_number (its importer), on (its acceptance date),
--            requests = [{quota = Q, line, quantity, sub_quota, over_quota, account,
--                         permit_number, vins}]}
--
-- Quotas drawn at permit issuance: the line uses its permit, which must be issued and
-- hold at least the line's units (with every other line of the declaration naming it);
-- one declaration uses a permit, and the units it does not declare return to the period
-- open on the acceptance date. Quotas drawn at declarations: the line draws on the
-- period containing its acceptance date (the reserve first when it may use it), bounded
-- by its importer's account (importer_allocation) or its pro-rata grant; a permit named
-- there only authorises, and is used up the same way.
-- daily_pro_rata at declarations: the first call files the request for its day's run
-- (Q|prorata|DAY) and answers pending; the run writes the grant, and the declaration's
-- next call takes at most its grant.
local decl, on = PAYLOAD.declaration_id, PAYLOAD.on
local prior = redis.call('GET', key('alloc'))
if prior then return prior end
-- a cancelled declaration takes nothing, whatever a late worker asks
if redis.call('HGET', key('decl'), 'status') == 'cancelled' then
  return cjson.encode({applied = false, cancelled = true, lines = {}, balances = {}})
end
local who = {declaration_id = decl, business_number = PAYLOAD.business_number}

local grants = {}
for _, r in ipairs(PAYLOAD.requests) do
  local q = r.quota
  if q.mode == 'daily_pro_rata' and q.drawn_at == 'declaration' and grants[q.id] == nil then
    local raw = redis.call('GET', key(q.id .. '|prorata_grant|' .. decl))
    if raw then
      grants[q.id] = cjson.decode(raw)
    else
      -- filed with its submission order, which the run shares by
      PAYLOAD.seq = num(redis.call('HGET', key('decl'), 'seq'))
      if redis.call('SETNX', key(q.id .. '|prorata_req|' .. decl), cjson.encode(PAYLOAD)) == 1 then
        redis.call('RPUSH', key(q.id .. '|prorata|' .. on), 'decl:' .. decl)
        redis.call('SADD', key(q.id .. '|prorata_days'), on)
        redis.call('SET', key('allocreq'), ARGV[2])
      end
      local waiting = {}
      for _, each in ipairs(PAYLOAD.requests) do
        local i = period_index(each.quota, on)
        table.insert(waiting, {line = each.line, quota_id = each.quota.id,
          period = i and each.quota.periods[i].key or on, status = 'pending',
          in_quota = 0, over_quota = 0, reserved_used = 0})
      end
      return cjson.encode({applied = false, pending = true, lines = waiting, balances = {}})
    end
  end
end

-- A declaration that takes its pro-rata grant (in full, in part, or not at all) gives
-- the grant up first: its units are back in the balance it plans against, and what it
-- does not take is free for the next run.
for _, r in ipairs(PAYLOAD.requests) do
  local q = r.quota
  local share = grants[q.id] and num(grants[q.id][tostring(r.line)]) or 0
  local i = period_index(q, on)
  if share > 0 and i then
    count(q, q.periods[i].key, 'granted', -share, on)
  end
end

-- Plan every line against the figures, counting what earlier lines of this declaration
-- planned; nothing is written until every line fits.
local figures, planned, planned_account = {}, {}, {}
local permits, permit_order = {}, {}
local lines, failed, vins_seen = {}, false, {}
for i, r in ipairs(PAYLOAD.requests) do
  local q = r.quota
  local line = {line = r.line, quota_id = q.id, status = 'allocated', in_quota = 0,
    over_quota = 0, reserved_used = 0, from_reserve = 0}
  if present(r.permit_number) then
    local pkey = q.id .. '|' .. r.permit_number
    if not permits[pkey] then
      permits[pkey] = {q = q, number = r.permit_number, asked = 0, lines = {}}
      table.insert(permit_order, pkey)
    end
    permits[pkey].asked = permits[pkey].asked + r.quantity
    table.insert(permits[pkey].lines, i)
  end
  if q.drawn_at == 'permit' then
    line.in_quota = r.quantity
    line.period = ''
    if not present(r.permit_number) then line.status = 'permit_missing'; failed = true end
  else
    figures[q.id] = figures[q.id] or draw_figures(q, on)
    local k = period_index(q, on)
    -- a day in no period of the year (before a measure's first quota year) has no units
    local f = figures[q.id][k] or {avail_general = 0, avail_reserve = {},
      period = {key = on}}
    local pk = q.id .. '|' .. k
    planned[pk] = planned[pk] or {}
    local from_reserve, from_general = plan_draw(f, r.quantity, r.sub_quota, planned[pk])
    if q.mode == 'importer_allocation' then
      -- the importer's own allocation bounds what it may take, reserve included
      local arole = account_role(q, r.account)
      local left = math.max(account_figures(arole).remaining - num(planned_account[arole]), 0)
      from_reserve = math.min(from_reserve, left)
      from_general = math.min(from_general, left - from_reserve)
      planned_account[arole] = num(planned_account[arole]) + from_reserve + from_general
      line.account_role = arole
    end
    if grants[q.id] then
      local cap = num(grants[q.id][tostring(r.line)])
      from_reserve = math.min(from_reserve, cap)
      from_general = math.min(from_general, cap - from_reserve)
    end
    local in_quota = from_reserve + from_general
    line.in_quota, line.over_quota = in_quota, r.quantity - in_quota
    line.reserved_used, line.from_reserve, line.index = from_reserve, from_reserve, k
    line.period = f.period.key
    if from_reserve > 0 then line.sub_quota = r.sub_quota end
    if in_quota < r.quantity then
      if r.over_quota == 'reject' then line.status = 'quota_exhausted'; failed = true
      elseif in_quota == 0 then line.status = 'over_quota'
      else line.status = 'split' end
    end
    planned[pk].general = num(planned[pk].general) + from_general
    if from_reserve > 0 then
      planned[pk]['r|' .. r.sub_quota] = num(planned[pk]['r|' .. r.sub_quota]) + from_reserve
    end
  end
  if type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do
      local seen = q.id .. '|' .. vin
      if vins_seen[seen] or redis.call('HEXISTS', key(q.id .. '|vins'), vin) == 1 then
        line.status = 'vin_already_used'; failed = true
      end
      vins_seen[seen] = true
    end
  end
  lines[i] = line
end
for _, pkey in ipairs(permit_order) do
  local use = permits[pkey]
  use.h = hash(permit_role(use.q, use.number))
  if use.h.status ~= 'issued' or num(use.h.held) < use.asked then
    failed = true
    for _, i in ipairs(use.lines) do lines[i].status = 'permit_exhausted' end
  elseif use.q.drawn_at == 'permit' then
    local reserve = num(use.h.reserve)
    for _, i in ipairs(use.lines) do
      local line = lines[i]
      line.period = use.h.period
      if reserve > 0 then
        line.sub_quota = use.h.sub_quota
        line.reserved_used = math.min(reserve, PAYLOAD.requests[i].quantity)
        reserve = reserve - line.reserved_used
      end
    end
  end
end

local function public(line)
  return {line = line.line, quota_id = line.quota_id, period = line.period,
    status = line.status, in_quota = line.in_quota, over_quota = line.over_quota,
    sub_quota = line.sub_quota, reserved_used = line.reserved_used}
end

local out_lines, balances = {}, {}
if failed then
  for _, line in ipairs(lines) do
    local status = line.status
    if status == 'allocated' or status == 'split' or status == 'over_quota' then
      status = 'not_applied'
    end
    table.insert(out_lines, {line = line.line, quota_id = line.quota_id, period = line.period,
      status = status, in_quota = 0, over_quota = 0, reserved_used = 0})
  end
  local result = cjson.encode({applied = false, lines = out_lines, balances = {}})
  redis.call('SET', key('alloc'), result)
  return result
end

for i, r in ipairs(PAYLOAD.requests) do
  local q, line = r.quota, lines[i]
  if q.drawn_at == 'declaration' and line.in_quota > 0 then
    local current = year_figures(q)
    local before = current[line.index].avail
    move(q, current, line.index, 'allocated', line.in_quota, line.from_reserve, r.sub_quota,
      who, on)
    local after = year_figures(q)
    settle(q, after, 1, on)
    if line.account_role then
      redis.call('HINCRBY', key(line.account_role), 'used', line.in_quota)
    end
    table.insert(balances, {quota_id = q.id, period = line.period, before = before,
      after = after[line.index].avail})
  end
  if type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do redis.call('HSET', key(q.id .. '|vins'), vin, decl) end
  end
  table.insert(out_lines, public(line))
end
for _, pkey in ipairs(permit_order) do
  local use = permits[pkey]
  local q, h, role = use.q, use.h, permit_role(use.q, use.number)
  local held, reserve = num(h.held), num(h.reserve)
  redis.call('HSET', key(role), 'status', 'used', 'used_by', decl, 'used', use.asked,
    'held', use.asked, 'reserve', math.min(reserve, use.asked), 'used_on', on)
  redis.call('ZREM', key(q.id .. '|expiring'), use.number)
  if q.drawn_at == 'permit' then
    count_permit(q, h.period, 'permits_used', use.asked, on)
    -- a permit serves one shipment: the units it does not declare go back at once
    local left = held - use.asked
    if left > 0 then
      local permit_who = {declaration_id = decl, permit_number = use.number,
        business_number = h.business_number}
      local went = give_permit_units(q, h, left, math.max(reserve - use.asked, 0), permit_who, on)
      redis.call('HINCRBY', key(role), went and 'returned' or 'lapsed', left)
    end
  end
end
local result = cjson.encode({applied = true, lines = out_lines, balances = balances})
redis.call('SET', key('alloc'), result)
-- kept so that a cancellation knows what to give back
redis.call('SET', key('allocreq'), ARGV[2])
return result
