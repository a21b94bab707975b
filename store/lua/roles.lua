-- The calling convention of the declaration, audit and ledger scripts: every such
-- script is this prelude followed by its own body (store/keyspace.py joins them; the
-- ledger's scripts, store/ledger.py, have store/lua/ledger.lua in between).
--   KEYS      every key the script touches, declared
--   ARGV[1]   JSON list of the role of each key, in KEYS order ('decl', 'audit', ...)
--   ARGV[2]   JSON payload
--   ARGV[3..] values stored as they are handed in (packed texts, store/packing.py, which
--             JSON cannot carry), `value(n)` being ARGV[2 + n]; the script never reads
--             inside them, and what it must read (status, heads) is stored as text
local ROLES = cjson.decode(ARGV[1])
local PAYLOAD = cjson.decode(ARGV[2])
local K = {}
for i, role in ipairs(ROLES) do K[role] = KEYS[i] end

local function key(role)
  local found = K[role]
  if not found then error('script used an undeclared key: ' .. role) end
  return found
end

local function value(n) return ARGV[2 + n] end

-- the values ARGV[2 + first] .. ARGV[2 + last], as one table (for RPUSH)
local function values(first, last)
  local out = {}
  for n = first, last do out[#out + 1] = ARGV[2 + n] end
  return out
end

local function present(item) return item ~= nil and item ~= cjson.null end
