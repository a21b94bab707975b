-- The ledger as of a date: every period of a quota year as it stands on `day`, one page
-- of the year's events, and the allocation accounts asked for. Only what is dated on or
-- before `day` counts (SPEC §5): the figures come from `year_figures(q, day)`, the same
-- arithmetic the writes use, so a period that has started shows what the earlier periods
-- carried into it before any write touched it, and a period that has ended shows its
-- unused units carried forward (or lapsed); the events page lists the events dated on or
-- before `day`, in the order they were written. Writes nothing but the events' date
-- index of a ledger written before it existed.
-- PAYLOAD = {quota = Q, day, counted (the last ledger date counted: `day`, or the end
--            of time for a read as of today or later), offset, limit, latest,
--            accounts = [business numbers]}
local q, day = PAYLOAD.quota, PAYLOAD.day
local counted = PAYLOAD.counted or day
local figures = year_figures(q, counted)
local periods, current = {}, cjson.null
for i, f in ipairs(figures) do
  local status = status_on(q, f, day)
  local last = i == #figures
  local view = {start = f.period.key, ['end'] = f.period['end'], volume = f.volume,
    carried_over = f.carried, used = f.allocated, returned = f.returned, granted = f.granted,
    remaining = f.free, carried_forward = 0, lapsed = 0, status = status, sub_quotas = {}}
  if status == 'scheduled' then
    view.carried_over = 0
    view.remaining = f.volume + f.returned - f.allocated - f.granted
  elseif status == 'closed' then
    view.remaining = 0
    if last then view.lapsed = f.balance else view.carried_forward = f.balance end
  else
    current = i - 1
  end
  -- units drawn from this period that came back after the quota year
  view.lapsed = view.lapsed + num(f.stored.lapsed)
  view.available = f.volume + view.carried_over
  view.net_used = f.allocated - f.returned
  view.reserved_left = 0
  for _, name in ipairs(sub_names(f.period)) do
    local s = f.subs[name]
    local carried = status == 'scheduled' and 0 or s.carried
    local remaining = s.left
    if status == 'scheduled' then remaining = s.own + s.returned - s.used
    elseif status == 'closed' then remaining = 0 end
    table.insert(view.sub_quotas, {name = name, reserved = s.own + carried,
      used = s.used - s.returned, remaining = remaining})
    view.reserved_left = view.reserved_left + remaining
  end
  if q.drawn_at == 'permit' then
    local h = f.stored
    local issued, used, returned, lapsed = num(h.permits_issued), num(h.permits_used),
      num(h.permits_returned), num(h.permits_lapsed)
    view.permits = {issued = issued, used = used, returned = returned, lapsed = lapsed,
      outstanding = issued - used - returned - lapsed}
  end
  table.insert(periods, view)
end
-- The events dated on or before `day`, in the order they were written. Few of them: their
-- positions from the date index, sorted; many: the positions scanned, in order (from the
-- end for the latest page), against the day of each (Q|events_days|YEAR), which costs
-- about the page divided by the share of events dated on or before `day`.
index_events(q)
local events_key = key(q.id .. '|events|' .. q.year)
local index_key = key(q.id .. '|events_on|' .. q.year)
local days_key = key(q.id .. '|events_days|' .. q.year)
local written = redis.call('LLEN', events_key)
local score = day_score(counted)
local total = redis.call('ZCOUNT', index_key, '-inf', score)
local offset, limit = PAYLOAD.offset, PAYLOAD.limit
-- the latest page, for a reader that shows the newest events
if PAYLOAD.latest then offset = math.max(total - limit, 0) end
local wanted = math.max(math.min(limit, total - offset), 0)
local positions = {}
local SCAN = 256  -- positions read at a time
-- the positions from `from` on (step 1) or back (step -1) dated on or before `day`, after
-- skipping `skip` of them, until `wanted` are found
local function scan(from, step, skip)
  local text, found = tostring(score), {}
  local position = from
  while #found < wanted and position >= 0 and position < written do
    local first = step > 0 and position or math.max(position - SCAN + 1, 0)
    local last = step > 0 and math.min(position + SCAN - 1, written - 1) or position
    local chunk = redis.call('GETRANGE', days_key, first * 8, last * 8 + 7)
    local at = position
    while #found < wanted and at >= first and at <= last do
      local offset_in = (at - first) * 8
      if string.sub(chunk, offset_in + 1, offset_in + 8) <= text then
        if skip > 0 then skip = skip - 1 else found[#found + 1] = at end
      end
      at = at + step
    end
    position = at
  end
  return found
end
if wanted > 0 and total == written then
  for n = 0, wanted - 1 do positions[n + 1] = offset + n end
elseif wanted > 0 and (PAYLOAD.latest and wanted or offset + wanted) * written
    >= 2 * total * total then
  -- a scan would read many positions for each one it keeps: sort the few instead
  local members = redis.call('ZRANGEBYSCORE', index_key, '-inf', score)
  for n, member in ipairs(members) do members[n] = tonumber(member) end
  table.sort(members)
  for n = offset + 1, offset + wanted do positions[#positions + 1] = members[n] end
elseif wanted > 0 and PAYLOAD.latest then
  local found = scan(written - 1, -1, 0)
  for n = #found, 1, -1 do positions[#positions + 1] = found[n] end
elseif wanted > 0 then
  positions = scan(0, 1, offset)
end
-- read consecutive positions with one LRANGE each
local page, n = {}, 1
while n <= #positions do
  local first, last = positions[n], positions[n]
  while positions[n + 1] == last + 1 do n = n + 1; last = positions[n] end
  for _, raw in ipairs(redis.call('LRANGE', events_key, first, last)) do
    table.insert(page, raw)
  end
  n = n + 1
end
local accounts = {}
for _, bn in ipairs(PAYLOAD.accounts) do
  local a = account_figures(account_role(q, bn))
  a.business_number = bn
  table.insert(accounts, a)
end
return cjson.encode({periods = periods, current = current, events = page, total = total,
  accounts = accounts})
