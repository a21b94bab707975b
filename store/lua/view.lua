-- The ledger as of a date: every period of a quota year as it stands on `day`, one page
-- of the year's events, and the allocation accounts asked for. Read only; the figures
-- come from `year_figures`, the same arithmetic the writes use, so a period that has
-- started shows what the earlier periods carried into it before any write touched it,
-- and a period that has ended shows its unused units carried forward (or lapsed).
-- PAYLOAD = {quota = Q, day, offset, limit, latest, accounts = [business numbers]}
local q, day = PAYLOAD.quota, PAYLOAD.day
local figures = year_figures(q)
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
    local issued, used, returned = num(h.permits_issued), num(h.permits_used),
      num(h.permits_returned)
    view.permits = {issued = issued, used = used, returned = returned,
      outstanding = issued - used - returned}
  end
  table.insert(periods, view)
end
local events_key = key(q.id .. '|events|' .. q.year)
local total = redis.call('LLEN', events_key)
local offset, limit = PAYLOAD.offset, PAYLOAD.limit
-- the latest page, for a reader that shows the newest events
if PAYLOAD.latest then offset = math.max(total - limit, 0) end
local page = redis.call('LRANGE', events_key, offset, offset + limit - 1)
local accounts = {}
for _, bn in ipairs(PAYLOAD.accounts) do
  local a = account_figures(account_role(q, bn))
  a.business_number = bn
  table.insert(accounts, a)
end
return cjson.encode({periods = periods, current = current, events = page, total = total,
  accounts = accounts})
