-- Replace an archived declaration by its stub, once its line is safely in the archive
-- file: the record's fields but the large ones (body, verdict, error) stay, with where
-- the line is; the trail and the allocation records go. Refused if the declaration
-- changed since it was read for the archive (its status or its audit head), so that a
-- line never stands for a declaration that moved on; a second call finds the stub.
-- KEYS[1] declaration hash, KEYS[2] audit list, KEYS[3] alloc, KEYS[4] allocreq
-- ARGV: 1 status read, 2 audit head read, 3 archive file (relative), 4 offset,
--       5 archived at (RFC 3339), 6 JSON array of the fields to drop
local state = redis.call('HMGET', KEYS[1], 'status', 'audit_head', 'archive')
if not state[1] then return 'missing' end
if state[3] then return 'archived' end
if state[1] ~= ARGV[1] or state[2] ~= ARGV[2] then return 'changed' end
local all = redis.call('HGETALL', KEYS[1])
local drop = {}
for _, name in ipairs(cjson.decode(ARGV[6])) do drop[name] = true end
local stub = {'archive', ARGV[3], 'archive_offset', ARGV[4], 'archived_at', ARGV[5]}
for i = 1, #all, 2 do
  if not drop[all[i]] then
    table.insert(stub, all[i])
    table.insert(stub, all[i + 1])
  end
end
-- a fresh hash: the small encoding again, where the old one had grown past it
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], unpack(stub))
return 'ok'
