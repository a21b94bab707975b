-- Give back what a declaration holds when it is cancelled (or fails after allocating):
-- units it drew at declaration return to the period open on `day` within their quota
-- year (after it they lapse); a permit it used is usable again while valid, for the units
-- the declaration declared (a permit past its expiry ends expired and its units return);
-- its VINs are freed. A declaration still waiting for its pro-rata run leaves the run
-- and gives up a grant not yet taken. Idempotent: the allocation result is marked, and a
-- second call does nothing; with no result yet, a tombstone keeps a late worker from
-- taking anything.
-- PAYLOAD = {declaration_id, day, requests_read (the allocreq text the caller read to
--            declare the keys, '' when none)}; the requests come from the stored allocreq.
-- Answers {returned = [{quota_id, period, quantity, permit_number?}]}
local decl, day = PAYLOAD.declaration_id, PAYLOAD.day
local raw = redis.call('GET', key('alloc'))
local req_raw = redis.call('GET', key('allocreq'))
-- the caller declared the keys of the requests it read; a worker that stored them since
-- makes it read again
if (req_raw or '') ~= PAYLOAD.requests_read then
  return cjson.encode({retry = true, returned = {}})
end
local req = req_raw and cjson.decode(req_raw) or {requests = {}}
local who = {declaration_id = decl, business_number = req.business_number}
if not raw then
  local seen = {}
  for _, r in ipairs(req.requests) do
    local q = r.quota
    if q.mode == 'daily_pro_rata' and not seen[q.id] then
      seen[q.id] = true
      redis.call('LREM', key(q.id .. '|prorata|' .. req.on), 0, 'decl:' .. decl)
      local grant = redis.call('GET', key(q.id .. '|prorata_grant|' .. decl))
      if grant then
        local shares = cjson.decode(grant)
        local i = period_index(q, req.on)
        for _, each in ipairs(req.requests) do
          local share = each.quota.id == q.id and num(shares[tostring(each.line)]) or 0
          if share > 0 and i then
            count(q, q.periods[i].key, 'granted', -share, day)
          end
        end
        redis.call('DEL', key(q.id .. '|prorata_grant|' .. decl))
      end
    end
  end
  redis.call('SET', key('alloc'), cjson.encode({applied = false, cancelled = true,
    lines = {}, balances = {}}))
  return cjson.encode({returned = {}})
end
local result = cjson.decode(raw)
if result.returned_at or not result.applied then return cjson.encode({returned = {}}) end
local returned, permits_done = {}, {}
for i, line in ipairs(result.lines) do
  local r = req.requests[i]
  local q = r.quota
  if q.drawn_at == 'declaration' and line.in_quota > 0 then
    local went = give(q, line.in_quota, num(line.reserved_used), line.sub_quota, who,
      return_day(day, req.on), line.period)
    if q.mode == 'importer_allocation' then
      -- an importer's account is per quota year: its units come back to it
      redis.call('HINCRBY', key(account_role(q, r.account)), 'returned', line.in_quota)
    end
    table.insert(returned, {quota_id = q.id, period = went or cjson.null,
      quantity = line.in_quota})
  end
  local pkey = present(r.permit_number) and (q.id .. '|' .. r.permit_number) or nil
  if pkey and not permits_done[pkey] then
    permits_done[pkey] = true
    local role = permit_role(q, r.permit_number)
    local h = hash(role)
    if h.used_by == decl and h.status == 'used' then
      local registration = cjson.decode(registration_text(h))
      local used = num(h.used)
      redis.call('HSET', key(role), 'status', 'issued', 'used', 0, 'used_on', '')
      redis.call('HDEL', key(role), 'used_by')
      if q.drawn_at == 'permit' then count_permit(q, h.period, 'permits_used', -used, day) end
      if day <= registration.expires_on then
        redis.call('ZADD', key(q.id .. '|expiring'), day_score(registration.expires_on),
          r.permit_number)
      elseif q.drawn_at == 'permit' then
        local permit_who = {declaration_id = decl, permit_number = r.permit_number,
          business_number = h.business_number}
        local went = give_permit_units(q, h, used, num(h.reserve), permit_who, day)
        redis.call('HSET', key(role), 'status', 'expired', 'ended_on', day,
          'returned', num(h.returned) + (went and used or 0),
          'lapsed', num(h.lapsed) + (went and 0 or used))
        table.insert(returned, {quota_id = q.id, period = went or cjson.null, quantity = used,
          permit_number = r.permit_number})
      else
        redis.call('HSET', key(role), 'status', 'expired', 'ended_on', day)
      end
    end
  end
  if type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do
      if redis.call('HGET', key(q.id .. '|vins'), vin) == decl then
        redis.call('HDEL', key(q.id .. '|vins'), vin)
      end
    end
  end
end
result.returned_at = NOW
redis.call('SET', key('alloc'), cjson.encode(result))
return cjson.encode({returned = returned})
