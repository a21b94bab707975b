-- Apply one declaration's quota requests, all lines at once or none (SPEC §4 step 5).
-- Idempotent: the result is stored under the declaration, and a second call returns it
-- unchanged, so a redelivered task never consumes quota, permit quantity or VINs twice.
--
-- ARGV[1] key prefix, ARGV[2] request (JSON), ARGV[3] now (RFC 3339), ARGV[4] 'run' for a
-- pro-rata allocation run (below), else absent
-- request = {declaration_id, requested_on, requests: [{quota_id, line, quantity, sub_quota,
--            over_quota, mode, account, critical_threshold,
--            period: {key, end, year, index, volume, reserved},
--            previous_period: {...} | null, permit_number, vins}]}
--
-- Modes. fcfs: units are taken from the period's balance now. importer_allocation: as
-- fcfs, and also from the importer's allocation account for the quota year
-- (acct:{q}:{year}:{bn}: initial + transfers_in - transfers_out + returned - used).
-- daily_pro_rata: the first call only registers the request for its day's run and
-- answers 'pending'; the run (ARGV[4] == 'run', ARGV[2] = {quota_id, day}) shares the
-- balance among that day's requests pro rata (whole units, largest remainder, ties by
-- submission order) and writes each declaration's grant; the declaration's next call
-- then takes at most its grant, by the same all-or-nothing path as fcfs.
-- Period hash fields: volume, carried, allocated, returned, status, critical_threshold,
-- and per sub-quota s: reserved:s, reserved_carried:s, reserved_used:s, reserved_returned:s.
-- balance = volume + carried + returned - allocated; the reserve is part of the balance.
local prefix, now = ARGV[1], ARGV[3]
local req = cjson.decode(ARGV[2])
local decl = req.declaration_id
local function num(value) return tonumber(value) or 0 end
if ARGV[4] ~= 'run' then
  local prior = redis.call('GET', prefix .. ':alloc:' .. decl)
  if prior then return prior end
  -- a cancelled declaration takes nothing, whatever a late worker asks
  if redis.call('HGET', prefix .. ':decl:' .. decl, 'status') == 'cancelled' then
    return cjson.encode({applied = false, cancelled = true, lines = {}, balances = {}})
  end
end
local result_key = prefix .. ':alloc:' .. (decl or '')
local function period_key(quota_id, key) return prefix .. ':quota:' .. quota_id .. ':' .. key end
local function event(quota_id, kind, period, quantity, before, after)
  redis.call('RPUSH', prefix .. ':qevents:' .. quota_id, cjson.encode({
    at = now, type = kind, period = period, quantity = quantity,
    balance_before = before, balance_after = after, declaration_id = decl or cjson.null}))
end

local function subs_of(period)
  local names = {}
  if type(period.reserved) == 'table' then
    for name, _ in pairs(period.reserved) do table.insert(names, name) end
  end
  table.sort(names)
  return names
end

local function balance(key)
  local h = redis.call('HMGET', key, 'volume', 'carried', 'returned', 'allocated')
  return num(h[1]) + num(h[2]) + num(h[3]) - num(h[4])
end

local function reserve_left(key, sub)
  local h = redis.call('HMGET', key, 'reserved:' .. sub, 'reserved_carried:' .. sub,
    'reserved_returned:' .. sub, 'reserved_used:' .. sub)
  return num(h[1]) + num(h[2]) + num(h[3]) - num(h[4])
end

-- Open a period the first time any declaration touches it; carry the unused units of
-- the previous period of the same quota year over, and close that period.
-- A period is never opened after a later period of its quota year: its units were
-- carried into that later period already (a late declaration finds it closed).
local function open_period(r)
  local p = r.period
  local key = period_key(r.quota_id, p.key)
  if redis.call('EXISTS', key) == 1 then return key end
  local later = redis.call('ZRANGEBYSCORE', prefix .. ':qperiods:' .. r.quota_id,
    '(' .. (p.year * 100 + p.index), p.year * 100 + 99, 'LIMIT', 0, 1)
  if #later > 0 then return key end
  local subs = subs_of(p)
  local fields = {'quota_id', r.quota_id, 'start', p.key, 'end', p['end'], 'year', p.year,
    'index', p.index, 'volume', p.volume, 'carried', 0, 'allocated', 0, 'returned', 0,
    'status', 'open', 'critical_threshold', r.critical_threshold, 'opened_at', now}
  for _, sub in ipairs(subs) do
    table.insert(fields, 'reserved:' .. sub); table.insert(fields, p.reserved[sub])
    table.insert(fields, 'reserved_carried:' .. sub); table.insert(fields, 0)
    table.insert(fields, 'reserved_used:' .. sub); table.insert(fields, 0)
    table.insert(fields, 'reserved_returned:' .. sub); table.insert(fields, 0)
  end
  redis.call('HSET', key, unpack(fields))
  redis.call('ZADD', prefix .. ':qperiods:' .. r.quota_id, p.year * 100 + p.index, p.key)
  redis.call('SADD', prefix .. ':quotas', r.quota_id)
  event(r.quota_id, 'opened', p.key, p.volume, 0, p.volume)
  local prev = r.previous_period
  if type(prev) == 'table' then
    -- What the year has not used before this period carries over: the balance of the
    -- latest earlier period that was opened (which closes now), plus the whole volume of
    -- every earlier period nobody touched since. Periods before the last one of a year
    -- all have the previous period's volume and reserve (the remainder goes to the last).
    local opened = redis.call('ZRANGEBYSCORE', prefix .. ':qperiods:' .. r.quota_id,
      p.year * 100, '(' .. (p.year * 100 + p.index))
    local carried, reserved_carried, untouched = 0, {}, p.index - 1
    for _, sub in ipairs(subs) do reserved_carried[sub] = 0 end
    if #opened > 0 then
      local latest = period_key(r.quota_id, opened[#opened])
      untouched = p.index - 1 - num(redis.call('HGET', latest, 'index'))
      carried = balance(latest)
      for _, sub in ipairs(subs) do reserved_carried[sub] = reserve_left(latest, sub) end
      redis.call('HSET', latest, 'status', 'closed')
    end
    carried = carried + untouched * prev.volume
    for _, sub in ipairs(subs) do
      reserved_carried[sub] = reserved_carried[sub] + untouched * num(prev.reserved[sub])
    end
    if carried > 0 then
      redis.call('HSET', key, 'carried', carried)
      for _, sub in ipairs(subs) do
        redis.call('HSET', key, 'reserved_carried:' .. sub, reserved_carried[sub])
      end
      event(r.quota_id, 'carried_over', p.key, carried, p.volume, p.volume + carried)
    end
  end
  return key
end

local function account_left(key)
  local h = redis.call('HMGET', key, 'initial', 'transfers_in', 'transfers_out', 'returned', 'used')
  return num(h[1]) + num(h[2]) - num(h[3]) + num(h[4]) - num(h[5])
end

-- A pro-rata run: share the day's requests, write the grants, answer the declarations.
if ARGV[4] == 'run' then
  local list_key = prefix .. ':prorata:' .. req.quota_id .. ':' .. req.day
  local ids = {}
  for _, id in ipairs(redis.call('LRANGE', list_key, 0, -1)) do
    -- a declaration cancelled while it waited takes no share from the others
    if redis.call('HGET', prefix .. ':decl:' .. id, 'status') ~= 'cancelled' then
      table.insert(ids, id)
    end
  end
  -- in submission order (workers may file requests in another order)
  local submitted = {}
  for position, id in ipairs(ids) do
    submitted[id] = {num(redis.call('HGET', prefix .. ':decl:' .. id, 'seq')), position}
  end
  table.sort(ids, function(a, b)
    if submitted[a][1] ~= submitted[b][1] then return submitted[a][1] < submitted[b][1] end
    return submitted[a][2] < submitted[b][2]
  end)
  local asks, total, key = {}, 0, nil
  for _, id in ipairs(ids) do
    local pending = cjson.decode(redis.call('GET', prefix .. ':prorata_req:' .. id))
    for _, r in ipairs(pending.requests) do
      if r.quota_id == req.quota_id then
        key = key or open_period(r)
        table.insert(asks, {id = id, line = r.line, quantity = r.quantity})
        total = total + r.quantity
      end
    end
  end
  local granted = {}
  if key then
    local status = redis.call('HGET', key, 'status')
    -- units granted by earlier runs and not yet taken are not there to share again
    local bal = math.max(balance(key) - num(redis.call('HGET', key, 'granted')), 0)
    if status == 'closed' or not status then bal = 0 end
    local shares, order = {}, {}
    if total <= bal then
      for i, ask in ipairs(asks) do shares[i] = ask.quantity end
    else
      local given = 0
      for i, ask in ipairs(asks) do
        shares[i] = math.floor(bal * ask.quantity / total)
        given = given + shares[i]
        table.insert(order, {i = i, rest = (bal * ask.quantity) % total})
      end
      table.sort(order, function(a, b)
        if a.rest ~= b.rest then return a.rest > b.rest end
        return a.i < b.i
      end)
      for n = 1, bal - given do shares[order[n].i] = shares[order[n].i] + 1 end
    end
    local total_granted = 0
    for i, ask in ipairs(asks) do
      granted[ask.id] = granted[ask.id] or {}
      granted[ask.id][tostring(ask.line)] = shares[i]
      total_granted = total_granted + shares[i]
    end
    redis.call('HINCRBY', key, 'granted', total_granted)
  end
  for _, id in ipairs(ids) do
    redis.call('SET', prefix .. ':prorata_grant:' .. id, cjson.encode(granted[id] or {x = 0}))
  end
  redis.call('DEL', list_key)
  redis.call('SREM', prefix .. ':prorata_days:' .. req.quota_id, req.day)
  return cjson.encode({declarations = ids, requested = total})
end

-- daily_pro_rata: without a grant yet, register the request for its day's run.
local grants = nil
for _, r in ipairs(req.requests) do
  if r.mode == 'daily_pro_rata' then
    local raw = redis.call('GET', prefix .. ':prorata_grant:' .. decl)
    if raw then
      grants = cjson.decode(raw)
    else
      if redis.call('SETNX', prefix .. ':prorata_req:' .. decl, ARGV[2]) == 1 then
        local seen = {}
        for _, each in ipairs(req.requests) do
          if not seen[each.quota_id] then
            seen[each.quota_id] = true
            redis.call('RPUSH', prefix .. ':prorata:' .. each.quota_id .. ':' .. req.requested_on, decl)
            redis.call('SADD', prefix .. ':prorata_days:' .. each.quota_id, req.requested_on)
          end
        end
      end
      local waiting = {}
      for _, each in ipairs(req.requests) do
        table.insert(waiting, {line = each.line, quota_id = each.quota_id, period = each.period.key,
          status = 'pending', in_quota = 0, over_quota = 0, reserved_used = 0})
      end
      return cjson.encode({applied = false, pending = true, lines = waiting, balances = {}})
    end
    break
  end
end

-- A declaration that takes its pro-rata grant (in full, in part, or not at all) gives
-- the grant up: what it did not take is free for the next run.
local function release_grants()
  if not grants then return end
  for _, r in ipairs(req.requests) do
    local share = num(grants[tostring(r.line)])
    if share > 0 then
      redis.call('HINCRBY', period_key(r.quota_id, r.period.key), 'granted', -share)
    end
  end
end

-- Plan every line against the balances, counting what earlier lines of this
-- declaration already took; nothing is written until every line fits.
local planned_account = {}
local planned_general, planned_reserve = {}, {}
local lines, failed = {}, false
local permit_asked, permit_lines = {}, {}
local vins_seen = {}
for i, r in ipairs(req.requests) do
  local key = open_period(r)
  local status = redis.call('HGET', key, 'status')
  -- closed by carry-over, or never opened because a later period took its units
  local closed = status == 'closed' or not status
  local bal = balance(key)
  if closed then bal = 0 end
  -- general units = balance - reserve left, both net of what earlier lines planned:
  -- a unit planned from a reserve leaves the balance and the reserve alike
  local reserve_total = 0
  for _, sub in ipairs(subs_of(r.period)) do
    local left = reserve_left(key, sub)
    if closed then left = 0 end
    reserve_total = reserve_total + left
  end
  local general = bal - reserve_total - num(planned_general[key])
  local from_reserve = 0
  if r.sub_quota ~= cjson.null and r.sub_quota ~= nil and not closed then
    local left = reserve_left(key, r.sub_quota) - num(planned_reserve[key .. '|' .. r.sub_quota])
    from_reserve = math.min(r.quantity, math.max(left, 0))
  end
  local from_general = math.min(r.quantity - from_reserve, math.max(general, 0))
  local account_key = nil
  if r.mode == 'importer_allocation' then
    -- the importer's own allocation bounds what it may take, reserve included
    account_key = prefix .. ':acct:' .. r.quota_id .. ':' .. r.period.year .. ':' .. r.account
    local left = math.max(account_left(account_key) - num(planned_account[account_key]), 0)
    from_reserve = math.min(from_reserve, left)
    from_general = math.min(from_general, left - from_reserve)
    planned_account[account_key] = num(planned_account[account_key]) + from_reserve + from_general
  end
  if grants then
    local cap = num(grants[tostring(r.line)])
    from_reserve = math.min(from_reserve, cap)
    from_general = math.min(from_general, cap - from_reserve)
  end
  local in_quota = from_reserve + from_general
  local line = {line = r.line, quota_id = r.quota_id, period = r.period.key,
    in_quota = in_quota, over_quota = r.quantity - in_quota, reserved_used = from_reserve,
    status = 'allocated', key = key, account_key = account_key}
  if from_reserve > 0 then line.sub_quota = r.sub_quota end
  if in_quota < r.quantity then
    if r.over_quota == 'reject' then
      line.status = 'quota_exhausted'; failed = true
    elseif in_quota == 0 then line.status = 'over_quota'
    else line.status = 'split' end
  end
  planned_general[key] = num(planned_general[key]) + from_general
  if from_reserve > 0 then
    local rk = key .. '|' .. r.sub_quota
    planned_reserve[rk] = num(planned_reserve[rk]) + from_reserve
  end
  if r.permit_number ~= cjson.null and r.permit_number ~= nil then
    permit_asked[r.permit_number] = num(permit_asked[r.permit_number]) + r.quantity
    permit_lines[r.permit_number] = permit_lines[r.permit_number] or {}
    table.insert(permit_lines[r.permit_number], i)
  end
  if type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do
      local seen = r.quota_id .. '|' .. vin
      if vins_seen[seen] or redis.call('HEXISTS', prefix .. ':vins:' .. r.quota_id, vin) == 1 then
        line.status = 'vin_already_used'; failed = true
      end
      vins_seen[seen] = true
    end
  end
  lines[i] = line
end
for number, asked in pairs(permit_asked) do
  local h = redis.call('HMGET', prefix .. ':permit:' .. number, 'quantity', 'used')
  if num(h[1]) - num(h[2]) < asked then
    failed = true
    for _, i in ipairs(permit_lines[number]) do lines[i].status = 'permit_exhausted' end
  end
end

local out_lines, balances = {}, {}
if failed then
  for _, line in ipairs(lines) do
    local status = line.status
    if status == 'allocated' or status == 'split' or status == 'over_quota' then status = 'not_applied' end
    table.insert(out_lines, {line = line.line, quota_id = line.quota_id, period = line.period,
      status = status, in_quota = 0, over_quota = 0, reserved_used = 0})
  end
  release_grants()
  local result = cjson.encode({applied = false, lines = out_lines, balances = {}})
  redis.call('SET', result_key, result)
  return result
end

local function settle_status(key, quota_id, period)
  local h = redis.call('HMGET', key, 'volume', 'carried', 'returned', 'allocated', 'status',
    'critical_threshold')
  local total = num(h[1]) + num(h[2])
  local bal = total + num(h[3]) - num(h[4])
  local used = num(h[4]) - num(h[3])
  local status = 'open'
  if bal <= 0 then status = 'exhausted'
  elseif total > 0 and used >= num(h[6]) * total then status = 'critical' end
  if status ~= h[5] and h[5] ~= 'closed' then
    redis.call('HSET', key, 'status', status)
    if status == 'open' or (status == 'critical' and h[5] == 'exhausted') then
      event(quota_id, 'reopened', period, 0, bal, bal)
    else
      -- one allocation may cross both thresholds: critical is announced on the way
      if status == 'exhausted' and h[5] == 'open' and total > 0 then
        event(quota_id, 'critical', period, 0, bal, bal)
      end
      event(quota_id, status, period, 0, bal, bal)
    end
  end
end

for i, r in ipairs(req.requests) do
  local line = lines[i]
  local key = line.key
  if line.in_quota > 0 then
    local before = balance(key)
    redis.call('HINCRBY', key, 'allocated', line.in_quota)
    if line.reserved_used > 0 then
      redis.call('HINCRBY', key, 'reserved_used:' .. r.sub_quota, line.reserved_used)
    end
    local after = balance(key)
    event(r.quota_id, 'allocated', line.period, line.in_quota, before, after)
    if line.account_key then redis.call('HINCRBY', line.account_key, 'used', line.in_quota) end
    table.insert(balances, {quota_id = r.quota_id, period = line.period, before = before, after = after})
    settle_status(key, r.quota_id, line.period)
  end
  if r.permit_number ~= cjson.null and r.permit_number ~= nil then
    redis.call('HINCRBY', prefix .. ':permit:' .. r.permit_number, 'used', r.quantity)
    redis.call('HINCRBY', prefix .. ':permit_uses:' .. r.permit_number, decl, r.quantity)
  end
  if type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do redis.call('HSET', prefix .. ':vins:' .. r.quota_id, vin, decl) end
  end
  table.insert(out_lines, {line = line.line, quota_id = line.quota_id, period = line.period,
    status = line.status, in_quota = line.in_quota, over_quota = line.over_quota,
    sub_quota = line.sub_quota, reserved_used = line.reserved_used})
end
release_grants()
local result = cjson.encode({applied = true, lines = out_lines, balances = balances})
redis.call('SET', result_key, result)
-- kept so that a cancellation knows which permit quantities and VINs to give back
redis.call('SET', prefix .. ':allocreq:' .. decl, ARGV[2])
return result
