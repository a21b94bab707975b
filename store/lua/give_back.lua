-- Cancel an accepted declaration: give back its quota units (only while their period is
-- still open for allocation), its permit quantity and its VINs, as `returned` events.
-- Idempotent: the allocation result is marked returned, and a second call does nothing.
-- ARGV[1] key prefix, ARGV[2] declaration id, ARGV[3] now
local prefix, decl, now = ARGV[1], ARGV[2], ARGV[3]
local result_key = prefix .. ':alloc:' .. decl
local raw = redis.call('GET', result_key)
if not raw then
  -- nothing allocated; a pro-rata grant not taken yet is given up for the next run
  local grant = redis.call('GET', prefix .. ':prorata_grant:' .. decl)
  local pending = redis.call('GET', prefix .. ':prorata_req:' .. decl)
  if grant and pending then
    local shares = cjson.decode(grant)
    for _, r in ipairs(cjson.decode(pending).requests) do
      local share = tonumber(shares[tostring(r.line)]) or 0
      if share > 0 then
        redis.call('HINCRBY', prefix .. ':quota:' .. r.quota_id .. ':' .. r.period.key, 'granted', -share)
      end
    end
    redis.call('DEL', prefix .. ':prorata_grant:' .. decl)
  end
  return cjson.encode({returned = {}})
end
local result = cjson.decode(raw)
if result.returned_at or not result.applied then return cjson.encode({returned = {}}) end
local req = cjson.decode(redis.call('GET', prefix .. ':allocreq:' .. decl))
local function num(value) return tonumber(value) or 0 end
local function balance(key)
  local h = redis.call('HMGET', key, 'volume', 'carried', 'returned', 'allocated')
  return num(h[1]) + num(h[2]) + num(h[3]) - num(h[4])
end
local returned = {}
for i, line in ipairs(result.lines) do
  local r = req.requests[i]
  local key = prefix .. ':quota:' .. line.quota_id .. ':' .. line.period
  local status = redis.call('HGET', key, 'status')
  if line.in_quota > 0 and status and status ~= 'closed' then
    local before = balance(key)
    redis.call('HINCRBY', key, 'returned', line.in_quota)
    if num(line.reserved_used) > 0 then
      redis.call('HINCRBY', key, 'reserved_returned:' .. line.sub_quota, line.reserved_used)
    end
    local after = balance(key)
    redis.call('RPUSH', prefix .. ':qevents:' .. line.quota_id, cjson.encode({at = now,
      type = 'returned', period = line.period, quantity = line.in_quota,
      balance_before = before, balance_after = after, declaration_id = decl}))
    local h = redis.call('HMGET', key, 'volume', 'carried', 'returned', 'allocated', 'critical_threshold')
    local total = num(h[1]) + num(h[2])
    local used = num(h[4]) - num(h[3])
    local new_status = 'open'
    if after <= 0 then new_status = 'exhausted'
    elseif used >= num(h[5]) * total then new_status = 'critical' end
    if new_status ~= status then
      redis.call('HSET', key, 'status', new_status)
      redis.call('RPUSH', prefix .. ':qevents:' .. line.quota_id, cjson.encode({at = now,
        type = 'reopened', period = line.period, quantity = 0, balance_before = after,
        balance_after = after, declaration_id = decl}))
    end
    table.insert(returned, {quota_id = line.quota_id, period = line.period, quantity = line.in_quota,
      balance_before = before, balance_after = after})
  end
  -- an importer's account is per quota year: its units come back even after carry-over
  if r and r.mode == 'importer_allocation' and line.in_quota > 0 then
    redis.call('HINCRBY', prefix .. ':acct:' .. line.quota_id .. ':' .. r.period.year .. ':' .. r.account,
      'returned', line.in_quota)
  end
  if r and r.permit_number ~= cjson.null and r.permit_number ~= nil then
    local taken = num(redis.call('HGET', prefix .. ':permit_uses:' .. r.permit_number, decl))
    if taken > 0 then
      redis.call('HINCRBY', prefix .. ':permit:' .. r.permit_number, 'used', -taken)
      redis.call('HDEL', prefix .. ':permit_uses:' .. r.permit_number, decl)
    end
  end
  if r and type(r.vins) == 'table' then
    for _, vin in ipairs(r.vins) do
      if redis.call('HGET', prefix .. ':vins:' .. line.quota_id, vin) == decl then
        redis.call('HDEL', prefix .. ':vins:' .. line.quota_id, vin)
      end
    end
  end
end
result.returned_at = now
redis.call('SET', result_key, cjson.encode(result))
return cjson.encode({returned = returned})
