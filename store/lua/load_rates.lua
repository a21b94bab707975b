-- Load exchange-rate quotes, all of them or none: a quote for a day that has one with
-- another value replaces it and the replaced value is kept with who replaced it and when;
-- a quote equal to the one held changes nothing (loading a file twice is harmless).
-- KEYS: for each currency, in the order of ARGV[1]'s groups: its hash (day -> quote JSON)
--       and its list of replaced quotes
-- ARGV: 1 JSON array of groups, each an array of [day, rate, source, quote JSON],
--       2 loaded_at, 3 loaded_by
-- Returns {loaded, replaced, unchanged}.
local groups = cjson.decode(ARGV[1])
local loaded, replaced, unchanged = 0, 0, 0
for index, group in ipairs(groups) do
  local hash, history = KEYS[2 * index - 1], KEYS[2 * index]
  for _, quote in ipairs(group) do
    local day, rate, source, text = quote[1], quote[2], quote[3], quote[4]
    local held = redis.call('HGET', hash, day)
    if not held then
      redis.call('HSET', hash, day, text)
      loaded = loaded + 1
    else
      local before = cjson.decode(held)
      if before.rate == rate and before.source == source then
        unchanged = unchanged + 1
      else
        redis.call('RPUSH', history, '{"on":' .. cjson.encode(day) .. ',"replaced_at":'
          .. cjson.encode(ARGV[2]) .. ',"replaced_by":' .. cjson.encode(ARGV[3])
          .. ',"previous":' .. held .. '}')
        redis.call('HSET', hash, day, text)
        replaced = replaced + 1
      end
    end
  end
end
return {loaded, replaced, unchanged}
