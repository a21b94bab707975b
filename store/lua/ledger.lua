-- The quota ledger's arithmetic, in one place: every ledger script is the calling
-- convention's prelude (store/lua/roles.lua), this prelude and its own body
-- (store/ledger.py joins them), and the read script computes what users see with the
-- same functions that the writes use.
--
-- Calling convention of every ledger script, roles.lua's:
--   KEYS     every key the script touches, declared (Redis requires it; Cluster routes
--            by it). Ledger keys carry their quota's hash tag: accord:{QUOTA}:...
--   ARGV[1]  JSON list of the role of each key, in KEYS order ('Q|period|2026-03-01')
--   ARGV[2]  JSON payload
--   ARGV[3]  now (RFC 3339), for events: value(1)
-- A quota year travels as Q = {id, mode, drawn_at, critical_threshold, year,
--   periods = [{key, end, index, volume, reserved = {sub = units}}]} (from the pack).
--
-- The stored counts of a period (hash Q|period|START): allocated, returned, granted
-- (pro-rata grants not yet taken), reserved_used:S, reserved_returned:S, lapsed (units
-- drawn from it that came back after the quota year), status (the last status announced
-- by an event), permits_issued, permits_used, permits_returned, permits_lapsed,
-- opened_at. Every count changes through `count`, on a ledger date (SPEC §5: the issue
-- date, the acceptance date, the day a cancellation or expiry is processed, the day of a
-- run), which also keeps what changed each day and each month (Q|daily|YEAR, indexed by
-- date in Q|days|YEAR). A read as of a day takes the counts and subtracts what changed
-- after it: the rest of its month day by day, then month by month, so a read of today
-- costs one range of an empty index, and a read of a past day at most a month of days
-- and the months since. Nothing else is stored: carry-over, balance, reserve left and
-- status are derived from the counts and the pack's volumes, by `year_figures`:
--   balance(k) = balance(k-1) + volume(k) + returned(k) - allocated(k)
-- so what the earlier periods of a quota year left is carried into each later period
-- the moment it starts, whether or not anything was written since, and a declaration
-- accepted in an earlier period may still draw on that period's units wherever they
-- were carried, as long as no later period has used them: a draw on period k must fit
-- in what is free in k and in every later period of the year, free being the balance
-- less the pro-rata grants written and not yet taken (granted is not allocated: events
-- record the balance, so that they replay as volume + carried + returned - allocated).
local NOW = value(1)

local function num(item) return tonumber(item) or 0 end

local function hash(role)
  local flat = redis.call('HGETALL', key(role))
  local out = {}
  for i = 1, #flat, 2 do out[flat[i]] = flat[i + 1] end
  return out
end

local function period_role(q, period_key) return q.id .. '|period|' .. period_key end

local function day_score(day) return tonumber((string.gsub(day, '-', ''))) end

-- Whether a change of a count can raise what a draw may take (`derive`'s free, general
-- and reserve left, in its period or a later one): units given back, a draw or a grant
-- undone, and any change of a reserve count (a reserve drawn lowers what the reserve
-- holds back from the general units). Only allocated up, granted up and returned down
-- never raise it; counts `derive` does not read (lapsed, permits_*) never do.
local function raises(field, delta)
  if field == 'allocated' or field == 'granted' then return delta < 0 end
  if field == 'returned' then return delta > 0 end
  return string.sub(field, 1, 9) == 'reserved_'
end

-- Change a period's stored count by `delta`, on the ledger date `day`: the count, what
-- changed that day (DAY|START|FIELD) and that month (YYYY-MM|START|FIELD) in
-- Q|daily|YEAR, indexed in Q|days|YEAR by YYYYMMDD and YYYYMM; a day with a change that
-- `raises` is kept in Q|raised|YEAR (member DAY, score YYYYMMDD), for `draw_figures`.
local function count(q, period_key, field, delta, day)
  if delta == 0 then return end
  redis.call('HINCRBY', key(period_role(q, period_key)), field, delta)
  local daily, days = key(q.id .. '|daily|' .. q.year), key(q.id .. '|days|' .. q.year)
  local on_day = day .. '|' .. period_key .. '|' .. field
  local in_month = string.sub(day, 1, 7) .. '|' .. period_key .. '|' .. field
  redis.call('HINCRBY', daily, on_day, delta)
  redis.call('HINCRBY', daily, in_month, delta)
  redis.call('ZADD', days, day_score(day), on_day)
  redis.call('ZADD', days, math.floor(day_score(day) / 100), in_month)
  if raises(field, delta) then
    redis.call('ZADD', key(q.id .. '|raised|' .. q.year), day_score(day), day)
  end
end

-- Q|raised|YEAR, with the days of a ledger written before it was kept: from each day's
-- net changes in Q|daily|YEAR, once per quota year (the member '*', score 0, says it is
-- whole). Returns its key.
local function raised_days(q)
  local raised = key(q.id .. '|raised|' .. q.year)
  if redis.call('ZSCORE', raised, '*') then return raised end
  -- days only: a day scores YYYYMMDD (8 digits), a month YYYYMM (6)
  local members = redis.call('ZRANGEBYSCORE', key(q.id .. '|days|' .. q.year), 10000000, '+inf')
  if #members > 0 then
    local values = redis.call('HMGET', key(q.id .. '|daily|' .. q.year), unpack(members))
    for n, member in ipairs(members) do
      -- DAY|START|FIELD: the day 10 characters, the period's start 10
      if raises(string.sub(member, 23), tonumber(values[n]) or 0) then
        local day = string.sub(member, 1, 10)
        redis.call('ZADD', raised, day_score(day), day)
      end
    end
  end
  redis.call('ZADD', raised, 0, '*')
  return raised
end

-- What every count of the year changed after `day`: {START = {field = units}}, from the
-- days left in its month and the months after it.
local function changed_after(q, day)
  local out = {}
  local days = key(q.id .. '|days|' .. q.year)
  local score = day_score(day)
  local month = math.floor(score / 100)
  local members = redis.call('ZRANGEBYSCORE', days, '(' .. score, month * 100 + 99)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', days, '(' .. month, 999999)) do
    members[#members + 1] = member
  end
  if #members == 0 then return out end
  local values = redis.call('HMGET', key(q.id .. '|daily|' .. q.year), unpack(members))
  for n, member in ipairs(members) do
    -- DAY|START|FIELD (a day: 10 characters) or YYYY-MM|START|FIELD (a month: 7)
    local width = string.sub(member, 8, 8) == '|' and 7 or 10
    local period_key = string.sub(member, width + 2, width + 11)
    local field = string.sub(member, width + 13)
    local changes = out[period_key]
    if not changes then changes = {}; out[period_key] = changes end
    changes[field] = (changes[field] or 0) + tonumber(values[n])
  end
  return out
end

local function sub_names(period)
  local names = {}
  if type(period.reserved) == 'table' then
    for name, _ in pairs(period.reserved) do table.insert(names, name) end
  end
  table.sort(names)
  return names
end

-- The position of the period of Q that contains `day` (ISO date), or nil.
local function period_index(q, day)
  for i, p in ipairs(q.periods) do
    if p.key <= day and day <= p['end'] then return i end
  end
  return nil
end

-- Every period of a quota year with its figures derived from its counts (`year_counts`);
-- `avail*` is what a draw on that period may take without any later period going below
-- zero.
local function derive(q, counts)
  local out, cum, held, rcum = {}, 0, 0, {}
  for i, p in ipairs(q.periods) do
    local h = counts[p.key]
    local f = {index = i, period = p, stored = h, carried = cum, volume = p.volume,
      allocated = num(h.allocated), returned = num(h.returned), granted = num(h.granted),
      subs = {}, reserve_left = 0}
    f.balance = cum + p.volume + f.returned - f.allocated
    held = held + f.granted
    f.free = f.balance - held
    cum = f.balance
    for _, name in ipairs(sub_names(p)) do
      local carried = num(rcum[name])
      local s = {name = name, own = num(p.reserved[name]), carried = carried,
        used = num(h['reserved_used:' .. name]), returned = num(h['reserved_returned:' .. name])}
      s.left = carried + s.own + s.returned - s.used
      rcum[name] = s.left
      f.subs[name] = s
      f.reserve_left = f.reserve_left + s.left
    end
    f.general = f.free - f.reserve_left
    out[i] = f
  end
  for i = #out, 1, -1 do
    local f, later = out[i], out[i + 1]
    f.avail = later and math.min(f.free, later.avail) or f.free
    f.avail_general = later and math.min(f.general, later.avail_general) or f.general
    f.avail_reserve = {}
    for name, s in pairs(f.subs) do
      f.avail_reserve[name] = later and math.min(s.left, later.avail_reserve[name]) or s.left
    end
  end
  return out
end

-- The stored counts of every period ({START = {field = value}}), as of `day` (what
-- changed after it left out) or, without `day`, as now.
local function year_counts(q, day)
  local later_changes = day and changed_after(q, day) or {}
  local counts = {}
  for _, p in ipairs(q.periods) do
    local h = hash(period_role(q, p.key))
    for field, delta in pairs(later_changes[p.key] or {}) do
      h[field] = num(h[field]) - delta
    end
    counts[p.key] = h
  end
  return counts
end

local function year_figures(q, day) return derive(q, year_counts(q, day)) end

-- The figures a draw dated `day` plans against: as now, except that what it may take
-- (`avail*`) is the least that was free on `day` and on every ledger date since. Units
-- that came back after `day` were not there to draw on `day`: a permit recorded as issued
-- on an earlier day, a declaration accepted earlier, or a run for a past day takes them
-- and some read as of a day in between shows a balance below zero, the units drawn twice.
-- Only a later day with a change that `raises` what is free can have had less free just
-- before it than after; between such days the figures only fall. So the least is found
-- among now and the states just before each raising day after `day`: a draw with no
-- such day after it (a draw dated today, or after nothing was given back since) costs
-- one range of Q|raised|YEAR; otherwise the changes from the first raising day on.
local function draw_figures(q, day)
  local now = year_figures(q)
  local raised = redis.call('ZRANGEBYSCORE', raised_days(q), '(' .. day_score(day), '+inf',
    'WITHSCORES')
  if #raised == 0 then return now end
  local raising = {}
  for n = 2, #raised, 2 do raising[tonumber(raised[n])] = true end
  local flat = redis.call('ZRANGEBYSCORE', key(q.id .. '|days|' .. q.year), raised[2], '+inf',
    'WITHSCORES')
  local members, scores = {}, {}
  for n = 1, #flat, 2 do
    members[#members + 1] = flat[n]
    scores[#scores + 1] = tonumber(flat[n + 1])
  end
  local values = redis.call('HMGET', key(q.id .. '|daily|' .. q.year), unpack(members))
  local counts = {}
  for i, p in ipairs(q.periods) do
    local copy = {}
    for field, value in pairs(now[i].stored) do copy[field] = value end
    counts[p.key] = copy
  end
  -- DAY|START|FIELD: the day 10 characters, the period's start 10
  local function change(n, sign)
    local h = counts[string.sub(members[n], 12, 21)]
    if h then
      local field = string.sub(members[n], 23)
      h[field] = num(h[field]) + sign * tonumber(values[n])
    end
  end
  local function lower(figures)
    for i, f in ipairs(figures) do
      local least = now[i]
      least.avail = math.min(least.avail, f.avail)
      least.avail_general = math.min(least.avail_general, f.avail_general)
      for name, left in pairs(f.avail_reserve) do
        least.avail_reserve[name] = math.min(least.avail_reserve[name], left)
      end
    end
  end
  -- the state just before the first raising day, then day by day forward, the state
  -- just before each later raising day
  for n = 1, #members do change(n, -1) end
  lower(derive(q, counts))
  local n = 1
  while n <= #members do
    local score = scores[n]
    while n <= #members and scores[n] == score do change(n, 1); n = n + 1 end
    if n <= #members and raising[scores[n]] then lower(derive(q, counts)) end
  end
  return now
end

-- The status a write announces: exhausted when nothing can be drawn, critical once the
-- threshold of the period's units (its volume and what it carried) is used.
local function drawing_status(q, f)
  local total = f.volume + f.carried
  local used = f.allocated - f.returned
  if f.avail <= 0 then return 'exhausted' end
  if total > 0 and used >= tonumber(q.critical_threshold) * total then return 'critical' end
  return 'open'
end

-- The status a reader sees on `day`: a period not started is scheduled, one that has
-- ended is closed (its units are in the next period, or lapsed with the year).
local function status_on(q, f, day)
  local p = f.period
  if day < p.key then return 'scheduled' end
  if p['end'] < day then return 'closed' end
  if f.balance <= 0 then return 'exhausted' end
  return drawing_status(q, f)
end

-- Events are appended to Q|events|YEAR and indexed by ledger date: in Q|events_on|YEAR
-- (member: the event's position, zero-padded; score: YYYYMMDD of `on`) and, position by
-- position, in Q|events_days|YEAR (8 characters YYYYMMDD each), so that a read as of a
-- day pages the events dated on or before it, in the order they were written.
local function event_member(position) return string.format('%012d', position) end

local function event_day(fields)
  if present(fields.on) then return fields.on end
  return string.sub(fields.at or NOW, 1, 10)
end

-- Index events appended before the index existed (the index is always a prefix); once
-- per quota year and script.
local indexed_years = {}
local function index_events(q)
  if indexed_years[q.id .. '|' .. q.year] then return end
  indexed_years[q.id .. '|' .. q.year] = true
  local list = key(q.id .. '|events|' .. q.year)
  local index = key(q.id .. '|events_on|' .. q.year)
  local days = key(q.id .. '|events_days|' .. q.year)
  local total, indexed = redis.call('LLEN', list), redis.call('ZCARD', index)
  if indexed >= total then return end
  local missing = redis.call('LRANGE', list, indexed, total - 1)
  for n, raw in ipairs(missing) do
    local score = day_score(event_day(cjson.decode(raw)))
    redis.call('ZADD', index, score, event_member(indexed + n - 1))
    redis.call('SETRANGE', days, (indexed + n - 1) * 8, string.format('%08d', score))
  end
end

local function event(q, fields)
  fields.at = NOW
  fields.quota_id = q.id
  if not present(fields.on) then fields.on = string.sub(NOW, 1, 10) end
  index_events(q)
  local list = key(q.id .. '|events|' .. q.year)
  local position = redis.call('RPUSH', list, cjson.encode(fields)) - 1
  local score = day_score(fields.on)
  redis.call('ZADD', key(q.id .. '|events_on|' .. q.year), score, event_member(position))
  redis.call('SETRANGE', key(q.id .. '|events_days|' .. q.year), position * 8,
    string.format('%08d', score))
end

-- The first write into a period opens it: its volume, and what the year carried in.
local function touch(q, f, on)
  if f.stored.opened_at then return end
  local role = period_role(q, f.period.key)
  redis.call('HSET', key(role), 'opened_at', NOW, 'status', 'open')
  f.stored.opened_at, f.stored.status = NOW, 'open'
  event(q, {type = 'opened', on = on, period = f.period.key, quantity = f.volume,
    balance_before = 0, balance_after = f.volume})
  if f.carried ~= 0 then
    event(q, {type = 'carried_over', on = on, period = f.period.key, quantity = f.carried,
      balance_before = f.volume, balance_after = f.volume + f.carried})
  end
end

-- Announce every status a change moved, in every opened period from `from` on.
local function settle(q, figures, from, on)
  for i = from, #figures do
    local f = figures[i]
    local before = f.stored.status
    if f.stored.opened_at then
      local now_status = drawing_status(q, f)
      if now_status ~= before then
        redis.call('HSET', key(period_role(q, f.period.key)), 'status', now_status)
        f.stored.status = now_status
        local kinds = {}
        if now_status == 'open' or (now_status == 'critical' and before == 'exhausted') then
          kinds = {'reopened'}
        elseif now_status == 'exhausted' and before == 'open' and f.volume + f.carried > 0 then
          kinds = {'critical', 'exhausted'}  -- one draw may cross both thresholds
        else
          kinds = {now_status}
        end
        for _, kind in ipairs(kinds) do
          event(q, {type = kind, on = on, period = f.period.key, quantity = 0,
            balance_before = f.balance, balance_after = f.balance})
        end
      end
    end
  end
end

-- Change one period's counts by `delta` units (positive: allocated; negative: returned),
-- `reserve` of them on sub-quota `sub`; record the event and what later periods carried.
-- `who` = {declaration_id, permit_number, business_number} for the event.
local function move(q, figures, i, kind, quantity, reserve, sub, who, on)
  local f = figures[i]
  touch(q, f, on)
  local before = f.balance
  if kind == 'allocated' then
    count(q, f.period.key, 'allocated', quantity, on)
    if reserve > 0 then count(q, f.period.key, 'reserved_used:' .. sub, reserve, on) end
  else
    count(q, f.period.key, 'returned', quantity, on)
    if reserve > 0 then count(q, f.period.key, 'reserved_returned:' .. sub, reserve, on) end
  end
  local sign = kind == 'allocated' and -1 or 1
  event(q, {type = kind, on = on, period = f.period.key, quantity = quantity,
    balance_before = before, balance_after = before + sign * quantity,
    sub_quota = reserve > 0 and sub or nil, reserved = reserve,
    declaration_id = who.declaration_id, permit_number = who.permit_number,
    business_number = who.business_number, reason = who.reason})
  -- later periods that are open carried these units: their carry-over changes with them
  for j = i + 1, #figures do
    local later = figures[j]
    if later.stored.opened_at then
      event(q, {type = 'carried_over', on = on, period = later.period.key,
        quantity = sign * quantity, balance_before = later.balance,
        balance_after = later.balance + sign * quantity})
    end
  end
end

-- Importer allocation accounts (Canadian allocation TRQs), per quota year:
-- hash Q|acct|YEAR|BN: initial, transfers_in, transfers_out, returned, used.
local function account_role(q, bn) return q.id .. '|acct|' .. q.year .. '|' .. bn end

local function account_figures(role)
  local h = redis.call('HMGET', key(role), 'initial', 'transfers_in', 'transfers_out',
    'returned', 'used')
  local a = {initial = num(h[1]), transfers_in = num(h[2]), transfers_out = num(h[3]),
    returned = num(h[4]), used = num(h[5])}
  a.remaining = a.initial + a.transfers_in - a.transfers_out + a.returned - a.used
  return a
end

-- What a new draw on period i may take: general units, and the reserve of `sub` first
-- when the request may use it. Returns from_reserve, from_general for `quantity`.
local function plan_draw(f, quantity, sub, planned)
  planned = planned or {}
  local from_reserve = 0
  if present(sub) and f.avail_reserve[sub] then
    local left = f.avail_reserve[sub] - num(planned['r|' .. sub])
    from_reserve = math.min(quantity, math.max(left, 0))
  end
  local general = f.avail_general - num(planned.general)
  local from_general = math.min(quantity - from_reserve, math.max(general, 0))
  return from_reserve, from_general
end


-- The ledger date of a return: `day`, or the day the units were drawn if that is later
-- (units never come back, as of any date, before they were drawn).
local function return_day(day, drawn_on)
  if present(drawn_on) and day < drawn_on then return drawn_on end
  return day
end

-- Units given back on `day`, drawn from the period `own` (its key): to that period
-- while it lasts (a day before its end, even one before its start, gives them to it),
-- else to the period open on `day` within the quota year (the next to open when `day`
-- falls between two), SPEC §5; after the year they lapse: counted in their own period's
-- `lapsed` and recorded as a `lapsed` event, so that no unit leaves the ledger unseen.
-- Returns the period they went to, or nil when they lapsed.
local function give(q, quantity, reserve, sub, who, day, own)
  if quantity <= 0 then return nil end
  local own_index = nil
  for i, p in ipairs(q.periods) do
    if p.key == own then own_index = i end
  end
  local target = nil
  for i = own_index or 1, #q.periods do
    if day <= q.periods[i]['end'] then target = i; break end
  end
  local figures = year_figures(q)
  if not target then
    local home = figures[own_index or #figures]
    count(q, home.period.key, 'lapsed', quantity, day)
    event(q, {type = 'lapsed', on = day, period = home.period.key, quantity = quantity,
      balance_before = home.balance, balance_after = home.balance,
      sub_quota = reserve > 0 and sub or nil, reserved = reserve,
      declaration_id = who.declaration_id, permit_number = who.permit_number,
      business_number = who.business_number})
    return nil
  end
  move(q, figures, target, 'returned', quantity, reserve, sub, who, day)
  settle(q, year_figures(q), 1, day)
  return figures[target].period.key
end

-- Permits (quotas drawn at permit issuance): hash Q|permit|NUMBER with registration
-- (the application as JSON), status, quantity (units the permit holds), reserve (of
-- them, drawn from the sub-quota's reserve), sub_quota, period, year, used, used_by,
-- returned. An issued, unused permit is also in Q|expiring (score YYYYMMDD of expiry).
local function permit_role(q, number) return q.id .. '|permit|' .. number end

-- A permit's registration is kept in pieces of at most 64 bytes (registration:1,
-- registration:2, ...), so that Redis keeps the permit's hash a listpack (its
-- hash-max-listpack-value is 64); a permit written before holds it whole.
local REGISTRATION_PIECE = 64
local function registration_fields(text, into)
  local first, n = 1, 0
  while first <= #text do
    local last = math.min(first + REGISTRATION_PIECE - 1, #text)
    -- never between the bytes of one UTF-8 character: each piece reads as text
    while last < #text and last > first do
      local following = string.byte(text, last + 1)
      if following < 128 or following >= 192 then break end
      last = last - 1
    end
    n = n + 1
    table.insert(into, 'registration:' .. n)
    table.insert(into, string.sub(text, first, last))
    first = last + 1
  end
  return into
end

-- The registration's text from a permit's hash (HGETALL as a table), or nil.
local function registration_text(h)
  if h.registration then return h.registration end
  local parts = {}
  while h['registration:' .. (#parts + 1)] do parts[#parts + 1] = h['registration:' .. (#parts + 1)] end
  if #parts == 0 then return nil end
  return table.concat(parts)
end

-- Utilisation of the period a permit was drawn from, on the ledger date `day`.
local function count_permit(q, period_key, field, quantity, day)
  if quantity ~= 0 and period_key and period_key ~= '' then
    count(q, period_key, field, quantity, day)
  end
end

-- A permit's units given back on `day` (cancelled, expired, or not declared; never dated
-- before its issue date): to its own period while it lasts, else the period open that
-- day within the permit's quota year (`give`), the reserve part to the reserve, counted
-- as returned (or lapsed) on the period the permit drew from; returned units are
-- credited to its importer's account. Returns the period they went to, or nil when they
-- lapsed.
local function give_permit_units(q, h, quantity, reserve, who, day)
  local registration = registration_text(h)
  day = return_day(day, registration and cjson.decode(registration).issued_on)
  local went = give(q, quantity, reserve, h.sub_quota, who, day, h.period)
  count_permit(q, h.period, went and 'permits_returned' or 'permits_lapsed', quantity, day)
  if went and q.mode == 'importer_allocation' then
    redis.call('HINCRBY', key(account_role(q, h.business_number)), 'returned', quantity)
  end
  return went
end
